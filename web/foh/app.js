// The FOH page: what the unit knows, live, and what the engineer does there. One event stream
// (stream.js) keeps `state` current; every action is a command through the same API the console
// and control systems use, so an observer's page shows the controls disabled and the unit refuses
// them anyway.
import 'uplot/dist/uPlot.min.css'
import './style.css'
import htm from 'htm'
import { h, render } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import { compressorCurve, eqCurve, logFreqs } from './curves.js'
import { Chart } from './plot.js'
import { call, UnitStream } from './stream.js'

const html = htm.bind(h)
const FREQS = logFreqs(160)
const LEVELS = Array.from({ length: 61 }, (_, i) => -60 + i)

/** Everything the page shows; replaced field by field as events arrive, then rendered. */
const state = {
  connected: false,
  everConnected: false,
  who: null,
  status: null,
  outputs: [],
  beams: [],
  doa: null,
  meters: null,
  transitions: [],
  recommendations: new Map(),
  changes: [],
  panel: [],
  models: null,
  presets: null,
  marks: [],
  /** `update status`, read once on load: the running image's slot and the other slot. */
  update: null,
  /** Crowd-state class events (the timeline), alarm-class onsets, speech intervals, howls (feedback
   *  alarms from the howl detector) and the notches in place per output (0-based index), from `inference` events. */
  classes: [],
  alarms: [],
  speech: [],
  howls: [],
  notches: new Map(),
  mode: null,
  lastEventAt: null,
  lastEventId: null,
  message: null,
}
let rerender = () => {}
const changed = () => rerender()

const fmtDb = (v) => (v >= 0 ? '+' : '') + v.toFixed(1)
const canOperate = () => state.who && state.who.permission !== 'observe'

function bandFromShow(b) {
  return { type: b.type, freqHz: b.freq, gainDb: b.gain, q: b.q, enabled: b.enabled }
}
function compFromShow(c) {
  return { thresholdDb: c.threshold, ratio: c.ratio, kneeDb: c.knee, attackMs: c.attack, releaseMs: c.release, makeupDb: c.makeup, enabled: c.enabled }
}

/** Reads what events do not carry (or what a gap lost): status, outputs, beams, history, models, presets. */
/** Events that arrive while the state is being read: applied once the read is in (they are newer). */
let held = null

async function loadState() {
  held ??= []
  try {
    await readState()
  } finally {
    const late = held ?? []
    held = null
    for (const [type, d, id] of late) onEvent(type, d, id)
  }
}

async function readState() {
  const [who, status, outputs, beams, faults, recs, models, presets, marks, update] = await Promise.all([
    call('GET', '/api/whoami'),
    call('GET', '/api/status'),
    call('GET', '/api/output/show'),
    call('GET', '/api/beam/list'),
    call('GET', '/api/faults?count=50'),
    call('GET', '/api/recommendations'),
    call('GET', '/api/model/list'),
    call('GET', '/api/preset/list'),
    call('GET', '/api/mark/list'),
    call('GET', '/api/update/status'),
  ])
  if (who.ok) state.who = who.value
  if (status.ok) {
    state.status = status.value
    state.mode = status.value.mode
  }
  if (outputs.ok) state.outputs = outputs.value.map((o) => ({ output: o.output, gainDb: o.gain, eq: o.eq.map(bandFromShow), comp: compFromShow(o.comp) }))
  if (beams.ok) state.beams = beams.value
  if (faults.ok && Array.isArray(faults.value)) state.transitions = faults.value.slice(-50)
  if (recs.ok && Array.isArray(recs.value)) {
    state.recommendations = new Map(recs.value.map((r) => [r.id, { ...r, action: 'pending' }]))
  }
  state.models = models.ok ? models.value : null
  state.presets = presets.ok ? presets.value : null
  state.marks = marks.ok ? marks.value.slice(-5) : null
  state.update = update.ok ? update.value : null
  changed()
}

function onEvent(type, d, id) {
  if (held && type !== 'meters' && type !== 'doa') {
    held.push([type, d, id])
    return
  }
  state.lastEventAt = performance.now()
  if (id !== null) state.lastEventId = id
  switch (type) {
    case 'meters':
      state.meters = d
      break
    case 'doa':
      state.doa = d
      break
    case 'transition':
      // (A transition the state read already listed is not listed twice.)
      if (state.transitions.some((x) => x.at === d.at && x.to === d.to)) break
      state.transitions = [...state.transitions.slice(-49), d]
      if (state.status) state.status = { ...state.status, state: d.to, cause: d.cause }
      break
    case 'recommendation': {
      const prev = state.recommendations.get(d.id)
      const m = new Map(state.recommendations)
      m.set(d.id, { ...prev, ...d, output: d.output + 1 })
      state.recommendations = m
      break
    }
    case 'panel':
      state.panel = [...state.panel.slice(-19), d]
      break
    case 'change':
      applyChange(d)
      state.changes = [...state.changes.slice(-19), d]
      break
    case 'inference':
      onInference(d)
      break
  }
  changed()
  if (type !== 'meters') document.body.dataset.lastEvent = `${type}:${id ?? ''}`
}

const TIMELINE_S = 300
/** An `inference` event: the timeline keeps the last TIMELINE_S seconds (by the unit's clock, `at`). */
function onInference(d) {
  const at = Date.parse(d.at)
  const recent = (xs) => xs.filter((x) => at - x.at < TIMELINE_S * 1000)
  switch (d.kind) {
    case 'class':
      state.classes = [...recent(state.classes), { at, label: d.label, confidence: d.confidence }]
      break
    case 'alarm':
      state.alarms = [...state.alarms.slice(-9), { at, alarm: d.alarm, confidence: d.confidence }]
      break
    case 'vad':
      state.speech = [...recent(state.speech), { at, start: d.start, end: d.end }]
      break
    case 'howl':
      state.howls = [...state.howls.slice(-9), { ...d, at }]
      break
    case 'notches': {
      const m = new Map(state.notches)
      m.set(d.output, d.notches)
      state.notches = m
      break
    }
  }
}

function applyChange(c) {
  const o = c.target.output !== undefined ? c.target.output - 1 : -1
  const out = state.outputs[o]
  if (c.what === 'eq' && out) {
    const eq = out.eq.slice()
    eq[c.target.band - 1] = { ...c.value }
    state.outputs = state.outputs.map((x, i) => (i === o ? { ...x, eq } : x))
  } else if (c.what === 'gain' && out) {
    state.outputs = state.outputs.map((x, i) => (i === o ? { ...x, gainDb: c.value } : x))
  } else if (c.what === 'compressor' && out) {
    state.outputs = state.outputs.map((x, i) => (i === o ? { ...x, comp: { ...c.value } } : x))
  } else if (c.what === 'beam') {
    state.beams = state.beams.map((b) => (b.beam === c.target.beam ? { ...b, ...c.value, beam: b.beam } : b))
  } else if (c.what === 'mode') {
    state.mode = c.value
  } else if (c.what === 'preset') {
    void call('GET', '/api/preset/list').then((p) => {
      if (p.ok) state.presets = p.value
      changed()
    })
  }
}

/** Runs an action; its refusal (an observer, a bad value) is shown as the unit worded it. */
async function act(label, method, path, body) {
  const r = await call(method, path, body)
  state.message = r.ok ? { ok: true, text: `${label}: done` } : { ok: false, text: `${label}: ${r.message} [${r.code}]` }
  changed()
  return r
}

/** Accept or reject a recommendation; the EQ change itself arrives as `change` events. */
async function decide(id, what) {
  const r = await act(`${what} #${id}`, 'POST', `/api/${what}`, { id })
  if (r.ok) {
    const m = new Map(state.recommendations)
    m.set(id, { ...m.get(id), action: what === 'accept' ? 'accepted' : 'rejected' })
    state.recommendations = m
    changed()
  }
}

function Banner() {
  if (state.connected) return null
  return html`<div class="banner" role="alert">${state.everConnected ? 'Connection lost - reconnecting…' : 'Connecting to the unit…'}</div>`
}

function Header() {
  const s = state.status
  const st = s?.state ?? '…'
  return html`<header class="top">
    <h1>FOH <span class="board">${s?.board ?? ''}</span></h1>
    <div class=${`state state-${st}`} data-testid="watchdog-state" aria-live="polite">
      <span class="label">${st.replace('_', ' ')}</span>
      <span class="cause">${s?.cause ?? ''}</span>
    </div>
    <div class="who">${state.who ? html`${state.who.cn} <span class=${`role role-${state.who.role}`}>${state.who.role}</span>` : ''}</div>
  </header>`
}

function Controls() {
  const [confirming, setConfirming] = useState(false)
  const dis = !canOperate()
  const manual = state.status?.state === 'MANUAL_BYPASS'
  const modes = ['advisory', 'supervised', 'auto']
  return html`<section class="card controls" aria-labelledby="h-controls">
    <h2 id="h-controls">Control</h2>
    ${dis ? html`<p class="note">Observer certificate: view only.</p>` : null}
    <div class="row">
      ${
        confirming
          ? html`<div class="confirm" role="group" aria-label="Confirm bypass">
            <span>${manual ? 'Release the manual bypass?' : 'Bypass all processing?'}</span>
            <button class="btn danger" data-testid="bypass-confirm" onClick=${async () => {
              setConfirming(false)
              await act('bypass', 'POST', '/api/bypass', { state: !manual })
            }}>Yes, ${manual ? 'release' : 'bypass'}</button>
            <button class="btn" onClick=${() => setConfirming(false)}>Cancel</button>
          </div>`
          : html`<button class=${`btn ${manual ? 'active' : 'danger'}`} disabled=${dis} data-testid="bypass" onClick=${() => setConfirming(true)}>
            ${manual ? 'Release bypass' : 'Bypass'}
          </button>`
      }
    </div>
    <fieldset class="modes" disabled=${dis}>
      <legend>Automation mode</legend>
      ${modes.map(
        (m) => html`<label class=${`seg ${state.mode === m ? 'on' : ''}`}>
          <input type="radio" name="mode" value=${m} checked=${state.mode === m} onChange=${() => act(`mode ${m}`, 'POST', '/api/mode', { mode: m })} />
          ${m}
        </label>`,
      )}
    </fieldset>
    <div class="row">
      <button class="btn" disabled=${dis} data-testid="undo" onClick=${() => act('undo', 'POST', '/api/undo', {})}>Undo last automation change</button>
    </div>
    ${state.message ? html`<p class=${`msg ${state.message.ok ? 'ok' : 'err'}`} role="status">${state.message.text}</p>` : null}
  </section>`
}

/** "Mark a moment": kept by the unit with this certificate's name, for the models. */
function Marks() {
  const dis = !canOperate() || state.marks === null
  const mark = async (kind, label) => {
    const r = await act(`marked "${label}"`, 'POST', '/api/mark/add', { kind })
    if (r.ok) {
      state.marks = [...(state.marks ?? []).slice(-4), r.value]
      changed()
    }
  }
  return html`<section class="card" aria-labelledby="h-marks">
    <h2 id="h-marks">Mark this moment</h2>
    <div class="row">
      <button class="btn danger" disabled=${dis} data-testid="mark-feedback" onClick=${() => mark('feedback', 'that was feedback')}>That was feedback</button>
      <button class="btn" disabled=${dis} data-testid="mark-wrong" onClick=${() => mark('wrong', 'that was wrong')}>That was wrong</button>
      <button class="btn go" disabled=${dis} data-testid="mark-right" onClick=${() => mark('right', 'that was right')}>That was right</button>
    </div>
    ${
      state.marks === null
        ? html`<p class="muted small">Marks are not available on this unit.</p>`
        : html`<ol class="log" data-testid="marks">
          ${[...state.marks].reverse().map((m) => html`<li><time>${new Date(m.at).toLocaleTimeString()}</time> #${m.id} <strong>${m.kind}</strong> <span class="muted">${shortWho(m.who)}</span></li>`)}
        </ol>`
    }
  </section>`
}

const shortWho = (w) => /CN=([^,]+)/.exec(w)?.[1] ?? w

function Recommendations() {
  const recs = [...state.recommendations.values()].reverse().slice(0, 6)
  const dis = !canOperate()
  return html`<section class="card" aria-labelledby="h-recs">
    <h2 id="h-recs">Recommendations</h2>
    ${recs.length === 0 ? html`<p class="muted">None yet.</p>` : null}
    <ul class="recs">
      ${recs.map((r) => {
        const pending = r.action === 'pending' || r.action === 'awaiting-operator'
        return html`<li class="rec" data-testid=${`rec-${r.id}`}>
          <div><strong>#${r.id}</strong> output ${r.output} · ${Math.round((r.confidence ?? 0) * 100)}% · <span class="tag">${r.action}</span></div>
          <div class="deltas">${(r.deltaDb ?? []).map((d, i) => (Math.abs(d) >= 0.05 ? html`<span>${fmtHz(r.bandsHz?.[i])} ${fmtDb(d)} dB</span>` : null))}</div>
          ${
            pending
              ? html`<div class="row">
                <button class="btn go" disabled=${dis} data-testid=${`accept-${r.id}`} onClick=${() => decide(r.id, 'accept')}>Accept</button>
                <button class="btn" disabled=${dis} data-testid=${`reject-${r.id}`} onClick=${() => decide(r.id, 'reject')}>Reject</button>
              </div>`
              : null
          }
        </li>`
      })}
    </ul>
  </section>`
}

const fmtHz = (f) => (f === undefined ? '' : f >= 1000 ? `${f / 1000}k` : String(f))

/** The array from above: mics on a ring, the DOA estimate, each beam with a handle to drag. */
function ArrayView() {
  const svg = useRef(null)
  const [drag, setDrag] = useState(null)
  const R = 100
  const n = state.status?.device?.inputs ?? 8
  const dis = !canOperate()
  const toXY = (az, r) => [120 + r * Math.cos((az * Math.PI) / 180), 120 - r * Math.sin((az * Math.PI) / 180)]
  const azOf = (ev) => {
    const b = svg.current.getBoundingClientRect()
    const x = ((ev.clientX - b.left) / b.width) * 240 - 120
    const y = 120 - ((ev.clientY - b.top) / b.height) * 240
    return ((Math.round((Math.atan2(y, x) * 180) / Math.PI) % 360) + 360) % 360
  }
  const steer = (beam, az) => act(`steer beam ${beam}`, 'POST', '/api/beam/steer', { beam, azimuth: az })
  const doa = state.doa
  return html`<section class="card" aria-labelledby="h-array">
    <h2 id="h-array">Array (from above)</h2>
    <svg ref=${svg} viewBox="0 0 240 240" class="array" role="group" aria-label="Microphone array, DOA and beams"
      onPointerMove=${(e) => drag && setDrag({ ...drag, az: azOf(e) })}
      onPointerUp=${() => {
        if (drag) void steer(drag.beam, drag.az)
        setDrag(null)
      }}>
      <circle cx="120" cy="120" r=${R} class="ring" />
      ${Array.from({ length: n }, (_, k) => {
        const [x, y] = toXY((360 * k) / n, 24)
        return html`<circle cx=${x} cy=${y} r="3.5" class="mic" />`
      })}
      ${
        doa
          ? html`<g class="doa" data-testid="doa">
            <line x1="120" y1="120" x2=${toXY(doa.azimuth, R)[0]} y2=${toXY(doa.azimuth, R)[1]} />
            <circle cx=${toXY(doa.azimuth, R)[0]} cy=${toXY(doa.azimuth, R)[1]} r=${4 + 6 * (doa.confidence ?? 0)} />
          </g>`
          : null
      }
      ${state.beams.map((b) => {
        const az = drag && drag.beam === b.beam ? drag.az : b.azimuth
        const [x, y] = toXY(az, R - 22)
        return html`<g class=${`beam ${b.auto ? 'auto' : ''}`}>
          <line x1="120" y1="120" x2=${x} y2=${y} />
          <circle cx=${x} cy=${y} r="12" class="handle" />
          <circle cx=${x} cy=${y} r="22" class="hit" tabindex=${dis ? -1 : 0} role="slider"
            aria-label=${`Beam ${b.beam} direction`} aria-valuemin="0" aria-valuemax="359" aria-valuenow=${Math.round(az)}
            aria-disabled=${dis ? 'true' : 'false'}
            onPointerDown=${(e) => {
              if (dis) return
              e.currentTarget.ownerSVGElement.setPointerCapture?.(e.pointerId)
              setDrag({ beam: b.beam, az: b.azimuth })
            }}
            onKeyDown=${(e) => {
              if (dis) return
              const step = e.key === 'ArrowLeft' || e.key === 'ArrowUp' ? 5 : e.key === 'ArrowRight' || e.key === 'ArrowDown' ? -5 : 0
              if (step) {
                e.preventDefault()
                void steer(b.beam, (((b.azimuth + step) % 360) + 360) % 360)
              }
            }} />
          <text x=${x} y=${y + 4} text-anchor="middle" class="beam-no">${b.beam}</text>
        </g>`
      })}
    </svg>
    <p class="muted small">DOA ${doa ? `${Math.round(doa.azimuth)}° (${Math.round((doa.confidence ?? 0) * 100)}%)` : '-'} · ${dis ? 'beams: view only' : 'drag a beam (or focus it and use the arrow keys) to steer'}</p>
  </section>`
}

function Meter({ label, db, rms }) {
  const pct = (v) => Math.max(0, Math.min(100, ((v + 60) / 60) * 100))
  const hot = db > -3 ? 'hot' : db > -12 ? 'warm' : ''
  return html`<div class="meter" role="meter" aria-label=${label} aria-valuemin="-60" aria-valuemax="0" aria-valuenow=${Number.isFinite(db) ? Math.round(db) : -60}>
    <span class="mlabel">${label}</span>
    <span class="bar"><span class="rms" style=${{ width: `${pct(rms)}%` }}></span><span class=${`peak ${hot}`} style=${{ left: `${pct(db)}%` }}></span></span>
    <span class="mval">${Number.isFinite(db) ? db.toFixed(0) : '-∞'}</span>
  </div>`
}

function Meters() {
  const m = state.meters
  return html`<section class="card" aria-labelledby="h-meters">
    <h2 id="h-meters">Meters</h2>
    ${
      m
        ? html`<div class="meters">
          ${m.inputPeakDb.map((v, i) => html`<${Meter} label=${`in ${i + 1}`} db=${v} rms=${m.inputRmsDb[i]} />`)}
          ${m.outputPeakDb.map((v, i) => html`<${Meter} label=${`out ${i + 1}`} db=${v} rms=${m.outputRmsDb[i]} />`)}
          <p class="muted small">Gain reduction: ${m.gainReductionDb.map((g, i) => `out ${i + 1} ${g.toFixed(1)} dB`).join(' · ')}</p>
        </div>`
        : html`<p class="muted">Waiting for meters…</p>`
    }
  </section>`
}

function Outputs() {
  return html`<section class="card wide" aria-labelledby="h-outputs">
    <h2 id="h-outputs">Outputs: EQ and compressor</h2>
    <div class="outputs">
      ${state.outputs.map((o) => {
        // The feedback notches in place on this output are peaking cuts after its EQ: drawn into the curve.
        const notches = state.notches.get(o.output - 1) ?? []
        const eq = eqCurve([...o.eq, ...notches.map((n) => ({ type: 'peak', freqHz: n.hz, gainDb: n.gainDb, q: n.q, enabled: true }))], o.gainDb, FREQS)
        const comp = compressorCurve(o.comp, LEVELS)
        return html`<div class="output" data-testid=${`output-${o.output}`}>
          <h3>Output ${o.output} <span class="muted small">gain ${fmtDb(o.gainDb)} dB</span></h3>
          <${Chart} label=${`Output ${o.output} EQ curve`} x=${FREQS} ys=${[eq]} xLog=${true} xRange=${[20, 20000]} yRange=${[-18, 18]} xSplits=${[20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000]} xFormat=${fmtHz} />
          <p class="small bands" data-testid=${`bands-${o.output}`}>
            ${o.eq.map((b, i) => (b.enabled ? html`<span>${i + 1}: ${fmtHz(b.freqHz)} ${fmtDb(b.gainDb)}</span>` : null))}
            ${o.eq.some((b) => b.enabled) ? null : html`<span>all bands off</span>`}
          </p>
          ${notches.length ? html`<p class="small notch-list" data-testid=${`notches-${o.output}`}>notches: ${notches.map((n) => html`<span>${fmtHz(Math.round(n.hz))} ${fmtDb(n.gainDb)} Q ${n.q}</span>`)}</p>` : null}
          <${Chart} label=${`Output ${o.output} compressor curve`} x=${LEVELS} ys=${[comp, LEVELS]} xRange=${[-60, 0]} yRange=${[-60, 12]} xSplits=${[-60, -48, -36, -24, -12, 0]} height=${140} colors=${['#f0883e', '#484f58']} />
          <p class="small muted">${o.comp.enabled ? `${o.comp.thresholdDb} dB, ${o.comp.ratio}:1, knee ${o.comp.kneeDb} dB` : 'compressor off'}</p>
        </div>`
      })}
    </div>
  </section>`
}

function Transitions() {
  return html`<section class="card" aria-labelledby="h-log">
    <h2 id="h-log">Watchdog log</h2>
    <ol class="log" data-testid="transitions">
      ${[...state.transitions]
        .reverse()
        .slice(0, 8)
        .map((t) => html`<li><time>${new Date(t.at).toLocaleTimeString()}</time> ${t.from} → <strong>${t.to}</strong> <span class="muted">${t.cause}</span></li>`)}
    </ol>
    ${state.panel.length ? html`<p class="small muted" data-testid="panel-events">Front panel: ${state.panel.map((p) => p.event).join(', ')}</p>` : null}
  </section>`
}

const CLASS_COLORS = { silence: '#30363d', speech: '#58a6ff', music: '#a371f7', applause: '#3fb950', crowd: '#d29922', feedback: '#f85149' }
const classColor = (label) => CLASS_COLORS[label] ?? '#8b949e'

/** The last minute (growing to TIMELINE_S seconds) as a band: one segment per class event (until the next), speech below. */
function Timeline() {
  const now = state.classes.length ? Math.max(Date.now(), state.classes[state.classes.length - 1].at) : Date.now()
  const first = Math.min(...[...state.classes, ...state.speech, ...state.howls].map((e) => e.at), now)
  const spanS = Math.min(TIMELINE_S, Math.max(60, (now - first) / 1000))
  const x = (at) => Math.max(0, Math.min(300, 300 - ((now - at) / 1000) * (300 / spanS)))
  const segs = state.classes.map((c, i) => {
    const next = state.classes[i + 1]?.at ?? now
    return { x0: x(c.at), x1: Math.max(x(c.at) + 1, x(next)), c }
  })
  const labels = [...new Set(state.classes.map((c) => c.label))]
  return html`<svg viewBox="0 0 300 26" class="timeline" role="img" data-testid="timeline"
    aria-label=${`Crowd state over the last ${Math.round(spanS)} s: ${labels.join(', ') || 'no data'}`}>
    <rect x="0" y="0" width="300" height="16" class="tl-bg" />
    ${segs.map((s) => html`<rect x=${s.x0} y="0" width=${s.x1 - s.x0} height="16" fill=${classColor(s.c.label)}><title>${s.c.label} ${Math.round(s.c.confidence * 100)}%</title></rect>`)}
    ${state.speech.map((v) => {
      // An interval is published when it closes (at `at`): it ran for end - start seconds before.
      const x1 = x(v.at)
      const x0 = Math.max(0, x1 - (v.end - v.start) * (300 / spanS))
      return html`<rect x=${x0} y="19" width=${Math.max(1, x1 - x0)} height="6" class="tl-speech" />`
    })}
    ${state.howls.map((hw) => html`<line x1=${x(hw.at)} x2=${x(hw.at)} y1="0" y2="26" class="tl-howl" />`)}
  </svg>
  <p class="small muted legend">${labels.map((l) => html`<span><i style=${{ background: classColor(l) }}></i>${l}</span>`)}
    <span><i class="sw-speech"></i>voice</span><span><i class="sw-howl"></i>howl</span> · last ${Math.round(spanS)} s</p>`
}

function Room() {
  const cls = state.classes[state.classes.length - 1]
  const speech = state.speech[state.speech.length - 1]
  const notched = [...state.notches.entries()].filter(([, ns]) => ns.length)
  const t = (at) => new Date(at).toLocaleTimeString()
  return html`<section class="card" aria-labelledby="h-room">
    <h2 id="h-room">Room</h2>
    <${Timeline} />
    <dl class="kv">
      <dt>Crowd state</dt>
      <dd data-testid="crowd-state" class=${cls ? '' : 'muted'}>${cls ? html`<strong>${cls.label}</strong> ${Math.round(cls.confidence * 100)}% <span class="muted small">${t(cls.at)}</span>` : 'no class yet'}</dd>
      <dt>Voice activity</dt>
      <dd data-testid="voice" class=${speech ? '' : 'muted'}>${speech ? html`speech ${(speech.end - speech.start).toFixed(1)} s, ended ${t(speech.at)}` : 'no speech yet'}</dd>
      <dt>Alarms</dt>
      <dd data-testid="alarms" class=${state.alarms.length ? 'alarm' : 'muted'}>${
        state.alarms.length ? [...state.alarms].reverse().slice(0, 3).map((a) => html`<div>${a.alarm} ${Math.round(a.confidence * 100)}% <span class="muted small">${t(a.at)}</span></div>`) : 'none'
      }</dd>
      <dt>Feedback</dt>
      <dd data-testid="howls" class=${state.howls.length ? 'alarm' : 'muted'}>${
        state.howls.length
          ? [...state.howls]
              .reverse()
              .slice(0, 4)
              .map(
                (hw) =>
                  html`<div>out ${hw.output + 1}: <strong>${Math.round(hw.hz)} Hz</strong> ${hw.levelDb.toFixed(0)} dBFS ${fmtDb(hw.growthDbPerS)} dB/s ${hw.reason} <span class="muted small">${t(hw.at)}</span></div>`,
              )
          : 'none'
      }</dd>
      <dt>Notches</dt>
      <dd class=${notched.length ? '' : 'muted'} data-testid="notches">
        ${notched.length ? notched.map(([o, ns]) => html`<div>out ${o + 1}: ${ns.map((n) => `${fmtHz(Math.round(n.hz))} Hz ${fmtDb(n.gainDb)} dB`).join(', ')}</div>`) : 'none in place'}
      </dd>
    </dl>
  </section>`
}

/** `update status`: the running image's version and slot, confirmed or on trial, and the other slot. */
function slotText(u) {
  if (!u) return '-'
  if (!u.slot) return `${u.version} (not started by recovery)`
  const trial = u.slotState === null ? 'state unknown' : u.pending ? `on trial, boot ${u.boots ?? '?'}` : u.slotState === 'good' ? 'confirmed' : u.slotState
  const other = u.other ? `; slot ${u.other.slot.toUpperCase()}: ${u.other.version ?? 'empty'} (${u.other.state})` : ''
  return `${u.slot.toUpperCase()}: ${u.version} (${trial})${other}`
}

function Unit() {
  const [name, setName] = useState('')
  const s = state.status
  const dis = !canOperate()
  // `model list`: every installed model; the page shows the active ones (and which role is empty).
  const models = (state.models?.models ?? []).filter((m) => m.state === 'active')
  return html`<section class="card" aria-labelledby="h-unit">
    <h2 id="h-unit">Unit</h2>
    <dl class="kv">
      <dt>Firmware</dt><dd>${s?.firmware ?? '-'}</dd>
      <dt>Slot</dt><dd data-testid="update">${slotText(state.update)}</dd>
      <dt>Relay</dt><dd>${s?.relay ?? '-'}</dd>
      <dt>Mode</dt><dd data-testid="mode">${state.mode ?? '-'}</dd>
      <dt>Models</dt><dd data-testid="models">${models.length ? models.map((m) => html`<div>${m.name} ${m.version}</div>`) : 'none active'}</dd>
      <dt>Block time</dt><dd>${s ? `${s.block_us_p50}/${s.block_us_p99} µs p50/p99` : '-'}</dd>
    </dl>
    <h3>Presets</h3>
    ${
      state.presets
        ? html`<ul class="presets">
          ${state.presets.map(
            (p) => html`<li><span>${p.name}</span>
              <button class="btn" disabled=${dis || p.corrupt} onClick=${() => act(`recall ${p.name}`, 'POST', '/api/preset/load', { name: p.name })}>Recall</button></li>`,
          )}
        </ul>
        <form class="row" onSubmit=${(e) => {
          e.preventDefault()
          if (name) void act(`save ${name}`, 'POST', '/api/preset/save', { name })
        }}>
          <label class="grow">Save as <input value=${name} disabled=${dis} onInput=${(e) => setName(e.currentTarget.value)} pattern="[A-Za-z0-9._-]+" maxlength="32" /></label>
          <button class="btn" disabled=${dis || !name}>Save</button>
        </form>`
        : html`<p class="muted">Presets are not available on this unit.</p>`
    }
  </section>`
}

function App() {
  const [, setTick] = useState(0)
  useEffect(() => {
    rerender = () => setTick((t) => t + 1)
  }, [])
  return html`<${Banner} />
    <${Header} />
    <main class="grid">
      <${Controls} />
      <${Recommendations} />
      <${Marks} />
      <${ArrayView} />
      <${Meters} />
      <${Transitions} />
      <${Room} />
      <${Unit} />
      <${Outputs} />
    </main>`
}

render(html`<${App} />`, document.getElementById('app'))

// The stream opens first and the state is read once it is open: nothing between the two is lost
// (what arrives during the read is applied after it).
let firstOpen = true
const stream = new UnitStream({
  onEvent,
  onState: (up) => {
    const was = state.connected
    state.connected = up
    if (up) {
      if (firstOpen) {
        firstOpen = false
        void loadState().finally(() => {
          document.body.dataset.ready = 'yes'
        })
      }
      state.everConnected = true
      if (!was) document.body.dataset.connected = 'yes'
    } else document.body.dataset.connected = 'no'
    changed()
  },
  onReset: () => void loadState(),
})
stream.start()
