// Array geometry and the direction convention every DSP module shares.
// Azimuth 0 deg along +x, counter-clockwise toward +y; elevation 0 deg in the xy-plane, +90 deg
// straight up (+z). A plane wave from direction d reaches mic m earlier than the origin by
// dot(m, d) / c seconds.
#pragma once
#include <vector>

namespace dsp {

struct Vec3 {
  double x, y, z;
};

struct Geometry {
  std::vector<Vec3> mics;  // metres; channel k is mic k
  double sampleRate;
};

constexpr double kSpeedOfSound = 343.0;  // m/s, dry air at about 20 C
constexpr double kPi = 3.14159265358979323846;

// Unit vector pointing from the array toward a source at (azDeg, elDeg).
Vec3 directionVector(double azDeg, double elDeg);

inline double dot(const Vec3& a, const Vec3& b) { return a.x * b.x + a.y * b.y + a.z * b.z; }

// How the mics are laid out decides what a direction estimate can resolve: a line only the angle
// to its axis, a horizontal plane only the upper hemisphere.
enum class ArrayShape { Single, Linear, Planar, Volumetric };

struct ArrayLayout {
  ArrayShape shape;
  Vec3 axis;        // Linear: unit vector along the line, pointing from mic 0 toward the last mic
  bool horizontal;  // Planar: the plane is parallel to the xy-plane (elevation sign unresolvable)
  double radius;    // largest distance of a mic from the origin, metres
  double aperture;  // largest distance between two mics, metres
};

ArrayLayout describeLayout(const Geometry& g);

// Seconds by which a plane wave from `dir` reaches mic `m` before the origin.
inline double leadSeconds(const Vec3& m, const Vec3& dir) { return dot(m, dir) / kSpeedOfSound; }

}  // namespace dsp
