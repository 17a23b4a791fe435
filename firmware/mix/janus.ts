// The media server's side, as configuration: Janus (Debian's /usr/bin/janus) with only the
// streaming plugin and the HTTP transport, one RTP mountpoint per published mix. The unit never
// serves listeners; a venue runs Janus on its own host(s) and points each mix at a mountpoint
// (docs/mixes.md). The tests write a config directory from this and start Janus on it.

export interface JanusMountpoint {
  /** Mountpoint id (a listener's page watches it). */
  id: number
  /** The mix's name (its profile). */
  name: string
  /** What a listener reads when choosing. */
  description: string
  /** UDP port Janus listens on for this mix's RTP (Opus, payload type 111). */
  rtpPort: number
}

export interface JanusSetup {
  /** HTTP API port (plain HTTP: put it behind the venue's TLS proxy). */
  httpPort: number
  /** Interfaces ICE may use (ice_enforce_list), e.g. 'eth0'. Empty: all. */
  iceInterfaces: string
  /** UDP range for the WebRTC side. Defaults to 20000-40000. */
  rtpPortRange?: string
  mountpoints: JanusMountpoint[]
}

const q = (s: string): string => JSON.stringify(s)

/** The files of a Janus config directory: name -> contents. */
export function janusConfig(dir: string, s: JanusSetup): Record<string, string> {
  const lib = '/usr/lib/x86_64-linux-gnu/janus'
  return {
    'janus.jcfg': `general: {
  configs_folder = ${q(dir)}
  plugins_folder = ${q(`${lib}/plugins`)}
  transports_folder = ${q(`${lib}/transports`)}
  events_folder = ${q(`${lib}/events`)}
  loggers_folder = ${q(`${lib}/loggers`)}
  debug_level = 3
  session_timeout = 60
  protected_folders = []
}
media: {
  rtp_port_range = ${q(s.rtpPortRange ?? '20000-40000')}
}
nat: {
  nice_debug = false
  ignore_mdns = true
${s.iceInterfaces ? `  ice_enforce_list = ${q(s.iceInterfaces)}\n` : ''}}
plugins: {
  disable = "libjanus_audiobridge.so,libjanus_duktape.so,libjanus_echotest.so,libjanus_lua.so,libjanus_nosip.so,libjanus_recordplay.so,libjanus_sip.so,libjanus_textroom.so,libjanus_videocall.so,libjanus_videoroom.so,libjanus_voicemail.so"
}
transports: {
  disable = "libjanus_websockets.so,libjanus_pfunix.so,libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_rabbitmq.so"
}
events: {
  broadcast = false
}
`,
    'janus.transport.http.jcfg': `general: {
  json = "compact"
  base_path = "/janus"
  http = true
  port = ${s.httpPort}
  https = false
}
admin: {
  admin_http = false
  admin_https = false
}
cors: {
  allow_origin = "*"
}
`,
    'janus.plugin.streaming.jcfg': `general: {
}
${s.mountpoints
  .map(
    (m) => `${m.name}: {
  type = "rtp"
  id = ${m.id}
  description = ${q(m.description || m.name)}
  audio = true
  audioport = ${m.rtpPort}
  audiopt = 111
  audiocodec = "opus"
  audiofmtp = "stereo=1; sprop-stereo=1"
  audioiface = "127.0.0.1"
}
`,
  )
  .join('')}`,
  }
}
