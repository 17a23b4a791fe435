// The commands other parts of the firmware own, declared ONCE: name, owner, and what help says.
// Each owner defines its command next to its code (inference and automation in automation/, presets
// in store/, osc in osc/, telemetry in telemetry/, rehearse in rehearsal/) and registers it when it runs; until then the
// registry lists the declared entry for help and answers FW_ERR_NOT_AVAILABLE naming the owner.
// tests/commands/owned.test.ts holds this list and the owners' real specs equal (names, summary,
// permission), and that every entry gets its real spec when `firmware run` assembles the stack.
import type { OwnedCommand } from './types.ts'

const INFERENCE = 'inference'
const STORE = 'the store'
const OSC = 'OSC control (it keeps its setting in the store)'
const REHEARSAL = 'the rehearsal'
const MIXES = 'personal mixes (they keep their profiles in the store)'
const TELEMETRY = 'MQTT telemetry (it keeps its setting in the store)'

const FEEDBACK = 'the feedback frequency shifter (it keeps its setting in the store)'

const AES67 = 'AES67 network audio (streams from the board profile and added at run time)'

export const OWNED_COMMANDS: readonly OwnedCommand[] = [
  {
    name: 'aes67 list',
    owner: AES67,
    permission: 'observe',
    summary: 'the AES67 streams (board profile and added) with their counters: packets, lost, late, malformed, failover switches',
  },
  {
    name: 'aes67 ptp',
    owner: AES67,
    permission: 'observe',
    summary: 'the PTP clock as ptp4l reports it: port state, offset from the master, grandmaster, and health (locked, master, unlocked, lost)',
  },
  { name: 'aes67 discover', owner: AES67, permission: 'observe', summary: 'the AES67 streams others announce with SAP (heard in the last 5 minutes)' },
  { name: 'aes67 sdp', owner: AES67, permission: 'observe', summary: 'the SDP of one of the unit’s transmit streams (tx1..), as SAP announces it' },
  {
    name: 'aes67 rx add',
    owner: AES67,
    permission: 'admin',
    summary: 'add a receive stream while the unit runs: a source of an input (failover by priority); saved, back after a restart',
  },
  {
    name: 'aes67 rx remove',
    owner: AES67,
    permission: 'admin',
    summary: 'remove a receive stream added at run time (a playing source fades out); profile streams stay',
  },
  {
    name: 'aes67 tx add',
    owner: AES67,
    permission: 'admin',
    summary: 'add a transmit stream of engine outputs while the unit runs; announced with SAP, saved, back after a restart',
  },
  {
    name: 'aes67 tx remove',
    owner: AES67,
    permission: 'admin',
    summary: 'remove a transmit stream added at run time (a SAP deletion is sent); profile streams stay',
  },
  { name: 'mix list', owner: MIXES, permission: 'observe', summary: 'the personal-mix profiles, their revision, and where each published one streams' },
  {
    name: 'mix show',
    owner: MIXES,
    permission: 'observe',
    summary: 'one mix profile: sources, bed, compressor, revision, and its stream counters when published',
  },
  { name: 'mix set', owner: MIXES, permission: 'operate', summary: 'create or change a mix profile: per-output gains (dB), the bed, a gentle compressor' },
  { name: 'mix publish', owner: MIXES, permission: 'operate', summary: "publish a mix profile: stream it as Opus over RTP to a media server's ingest (Janus)" },
  { name: 'mix unpublish', owner: MIXES, permission: 'operate', summary: 'stop streaming a mix profile (it stays stored)' },
  {
    name: 'tracking',
    owner: MIXES,
    permission: 'operate',
    summary: 'source tracking on or off: the DOA thread localises up to four sources and the tracker follows them (stored)',
  },
  {
    name: 'tracks',
    owner: MIXES,
    permission: 'observe',
    summary: 'the tracked sources now: id, azimuth (degrees), confirmed, age (s); empty while tracking is off',
  },
  {
    name: 'mode',
    owner: INFERENCE,
    permission: 'operate',
    summary: 'automation mode: advisory (suggest), supervised (operator accepts), auto (applied within bounds)',
  },
  { name: 'recommendations', owner: INFERENCE, permission: 'observe', summary: 'EQ recommendations waiting for an operator (supervised) or shown (advisory)' },
  { name: 'accept', owner: INFERENCE, permission: 'operate', summary: 'apply a pending recommendation (supervised mode); the result becomes the approved EQ' },
  { name: 'reject', owner: INFERENCE, permission: 'operate', summary: 'discard a pending recommendation (supervised mode)' },
  { name: 'approve', owner: INFERENCE, permission: 'operate', summary: 'make the EQ applied now the operator-approved state that rollback returns to' },
  { name: 'undo', owner: INFERENCE, permission: 'operate', summary: 'undo the last automation change' },
  { name: 'rollback', owner: INFERENCE, permission: 'operate', summary: 'return the automated EQ exactly to the last operator-approved state' },
  { name: 'model list', owner: INFERENCE, permission: 'observe', summary: 'the installed models and which is active' },
  {
    name: 'model activate',
    owner: INFERENCE,
    permission: 'admin',
    summary: 'activate an installed model by id; it is checked (sha256, shapes) first and refused if wrong',
  },
  {
    name: 'model rollback',
    owner: INFERENCE,
    permission: 'admin',
    summary: 'go back to the previously active version of a model (the latest activated one by default)',
  },
  { name: 'preset list', owner: STORE, permission: 'observe', summary: 'the saved presets (a preset neither of whose copies loads is marked CORRUPT)' },
  { name: 'preset save', owner: STORE, permission: 'operate', summary: 'save outputs and beams as a named preset' },
  { name: 'preset load', owner: STORE, permission: 'operate', summary: 'load a named preset' },
  { name: 'preset delete', owner: STORE, permission: 'operate', summary: 'delete a named preset' },
  { name: 'preset boot', owner: STORE, permission: 'operate', summary: 'what the unit boots into: a preset, or none (the last mix); without a name, show it' },
  {
    name: 'mark add',
    owner: STORE,
    permission: 'operate',
    summary: 'mark this moment for the models: feedback (that was feedback), wrong (the unit got it wrong) or right; kept with your name',
  },
  { name: 'mark list', owner: STORE, permission: 'observe', summary: 'the marked moments, oldest first, for the models (export: GET /api/mark/list)' },
  { name: 'feedback show', owner: FEEDBACK, permission: 'observe', summary: 'the feedback frequency shift of every output (Hz; 0 is off)' },
  {
    name: 'feedback shift',
    owner: FEEDBACK,
    permission: 'operate',
    summary: 'shift an output up by 0 to 20 Hz against feedback (0: off; glides, no click; detunes music: docs/feedback.md); stored',
  },
  { name: 'osc show', owner: OSC, permission: 'observe', summary: 'show whether OSC (unencrypted UDP control) is on, on which port, and who may send' },
  { name: 'osc on', owner: OSC, permission: 'admin', summary: 'turn OSC on for the listed sources only (no encryption: use on a closed show network)' },
  { name: 'osc off', owner: OSC, permission: 'admin', summary: 'turn OSC off' },
  {
    name: 'telemetry show',
    owner: TELEMETRY,
    permission: 'observe',
    summary: 'show whether MQTT telemetry is on, to which broker, under which topic, and its buffer',
  },
  {
    name: 'telemetry on',
    owner: TELEMETRY,
    permission: 'admin',
    summary: 'publish telemetry over MQTT 5 + TLS with the unit certificate under <site>/<stage>/<unit>/',
  },
  { name: 'metrics', owner: TELEMETRY, permission: 'observe', summary: 'the unit figures as OpenMetrics text (what GET /metrics serves to Prometheus)' },
  { name: 'telemetry off', owner: TELEMETRY, permission: 'admin', summary: 'stop publishing telemetry (what is buffered stays on disk for the next time)' },
  {
    name: 'rehearse',
    owner: REHEARSAL,
    permission: 'operate',
    summary: 'inject a fault on the live unit and report the time to bypass (or DEGRADED) and to recovery',
  },
]
