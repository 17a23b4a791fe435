// The listener's page: Janus's HTTP API with fetch (no janus.js): create a session, attach the
// streaming plugin, list the published mixes, watch one, answer Janus's SDP offer with an
// RTCPeerConnection (receive only). The page never asks for the microphone and stores nothing.
// ?janus=<url of Janus's /janus endpoint> (defaults to /janus on this host).
const params = new URLSearchParams(location.search)
const janusUrl = params.get('janus') || `${location.origin}/janus`
const $ = (id) => document.getElementById(id)
const say = (s) => {
  $('status').textContent = s
}
const tx = () => Math.random().toString(36).slice(2)

let session = null
let handle = null
let pc = null
let stream = null
const waiting = []

async function post(path, body) {
  const r = await fetch(`${janusUrl}${path}`, { method: 'POST', body: JSON.stringify({ ...body, transaction: tx() }) })
  const j = await r.json()
  if (j.janus === 'error') throw new Error(j.error?.reason || 'Janus error')
  return j
}

// Long poll: events (the watch offer) and the session's keepalive.
async function poll() {
  while (session) {
    try {
      const r = await fetch(`${janusUrl}/${session}?maxev=5&rid=${Date.now()}`)
      const evs = await r.json()
      for (const ev of Array.isArray(evs) ? evs : [evs]) {
        const w = waiting.shift()
        if (ev.janus === 'event' && w) w(ev)
        else if (w) waiting.unshift(w)
      }
    } catch {
      await new Promise((r) => setTimeout(r, 1000))
    }
  }
}
const nextEvent = () => new Promise((resolve) => waiting.push(resolve))

async function message(body, jsep) {
  return post(`/${session}/${handle}`, { janus: 'message', body, ...(jsep ? { jsep } : {}) })
}

async function connect() {
  session = (await post('', { janus: 'create' })).data.id
  handle = (await post(`/${session}`, { janus: 'attach', plugin: 'janus.plugin.streaming' })).data.id
  void poll()
  const list = (await message({ request: 'list' })).plugindata.data.list || []
  const box = $('mixes')
  box.textContent = ''
  list.sort((a, b) => a.id - b.id)
  for (const [i, m] of list.entries()) {
    const label = document.createElement('label')
    const input = document.createElement('input')
    input.type = 'radio'
    input.name = 'mix'
    input.value = String(m.id)
    input.checked = i === 0
    label.append(input, ` ${m.description}`)
    box.append(label)
  }
  $('play').disabled = list.length === 0
  say(list.length ? 'ready: choose a mix and press Play' : 'no mix is published right now')
}

async function play(id) {
  say('starting…')
  $('play').disabled = true
  const ack = nextEvent()
  await message({ request: 'watch', id })
  const ev = await ack
  const offer = ev.jsep
  pc = new RTCPeerConnection({ iceServers: [] })
  stream = new MediaStream()
  pc.ontrack = (e) => {
    stream.addTrack(e.track)
    $('out').srcObject = stream
    $('out')
      .play()
      .catch(() => {})
    window.dispatchEvent(new CustomEvent('mix-track', { detail: stream }))
  }
  await pc.setRemoteDescription(offer)
  const answer = await pc.createAnswer()
  await pc.setLocalDescription(answer)
  // Non-trickle: wait for the candidates, then send the answer whole.
  if (pc.iceGatheringState !== 'complete') {
    await new Promise((r) => {
      pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r()
      setTimeout(r, 2000)
    })
  }
  await message({ request: 'start' }, { type: 'answer', sdp: pc.localDescription.sdp })
  $('stop').disabled = false
  say('playing')
  void readLatency()
}

// Delay behind the stage, as this device can know it: the jitter buffer's mean delay plus one
// Opus frame. A lower bound: the unit's framing, the network and the device's audio output add
// more (docs/mixes.md has the measured glass-to-glass figure, about twice this).
async function readLatency() {
  while (pc) {
    const stats = await pc.getStats()
    for (const s of stats.values()) {
      if (s.type === 'inbound-rtp' && s.kind === 'audio' && s.jitterBufferEmittedCount) {
        const jb = (1000 * s.jitterBufferDelay) / s.jitterBufferEmittedCount
        $('latency').textContent = `at least ${Math.round(jb + 20)} ms`
      }
    }
    await new Promise((r) => setTimeout(r, 1000))
  }
}

async function stop() {
  if (pc) pc.close()
  pc = null
  await message({ request: 'stop' }).catch(() => {})
  $('stop').disabled = true
  $('play').disabled = false
  say('stopped')
}

$('choose').addEventListener('submit', (e) => {
  e.preventDefault()
  const id = Number(new FormData($('choose')).get('mix'))
  play(id).catch((err) => say(`could not play: ${err.message}`))
})
$('stop').addEventListener('click', () => stop())
connect().catch((err) => say(`the media server did not answer: ${err.message}`))
