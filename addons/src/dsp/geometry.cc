#include "dsp/geometry.h"

#include <cmath>

namespace dsp {

Vec3 directionVector(double azDeg, double elDeg) {
  const double az = azDeg * kPi / 180.0, el = elDeg * kPi / 180.0;
  return {std::cos(el) * std::cos(az), std::cos(el) * std::sin(az), std::sin(el)};
}

namespace {
Vec3 sub(const Vec3& a, const Vec3& b) { return {a.x - b.x, a.y - b.y, a.z - b.z}; }
Vec3 cross(const Vec3& a, const Vec3& b) {
  return {a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x};
}
double norm(const Vec3& a) { return std::sqrt(dot(a, a)); }
Vec3 scale(const Vec3& a, double s) { return {a.x * s, a.y * s, a.z * s}; }
}  // namespace

ArrayLayout describeLayout(const Geometry& g) {
  ArrayLayout out{ArrayShape::Single, {1, 0, 0}, false, 0, 0};
  const auto& m = g.mics;
  size_t ia = 0, ib = 0;
  for (size_t i = 0; i < m.size(); i++) {
    out.radius = std::fmax(out.radius, norm(m[i]));
    for (size_t j = i + 1; j < m.size(); j++) {
      const double d = norm(sub(m[i], m[j]));
      if (d > out.aperture) out.aperture = d, ia = i, ib = j;
    }
  }
  if (m.size() < 2 || out.aperture <= 0) return out;
  // Mics closer than this to a line or plane count as on it (0.1 mm, or 0.1% of the aperture).
  const double tol = std::fmax(1e-4, 1e-3 * out.aperture);
  Vec3 u = scale(sub(m[ib], m[ia]), 1.0 / out.aperture);
  size_t far = ia;
  double farDist = 0;
  for (size_t i = 0; i < m.size(); i++) {
    const double d = norm(cross(sub(m[i], m[ia]), u));
    if (d > farDist) farDist = d, far = i;
  }
  if (farDist <= tol) {
    out.shape = ArrayShape::Linear;
    if (dot(u, sub(m.back(), m.front())) < 0) u = scale(u, -1);
    out.axis = u;
    return out;
  }
  Vec3 n = cross(u, sub(m[far], m[ia]));
  n = scale(n, 1.0 / norm(n));
  bool planar = true;
  for (const auto& p : m)
    if (std::fabs(dot(sub(p, m[ia]), n)) > tol) planar = false;
  out.shape = planar ? ArrayShape::Planar : ArrayShape::Volumetric;
  out.horizontal = planar && std::fabs(std::fabs(n.z) - 1.0) < 1e-6;
  return out;
}

}  // namespace dsp
