// `--net SPEC` parsing: user[,net=A.B.C.D/N][,host=IP][,dns=IP][,mac=MAC][,hostfwd=...]...,
// tap,ifname=NAME[,mtu=N][,mac=MAC], socket,path=PATH[,type=stream][,mac=MAC] and
// socket,type=dgram,path=PATH|fd=N[,local=PATH][,mtu=N][,mac=MAC]. Every mistake is one line
// naming the spec, so a bad flag fails before anything boots (usage exit code, like ConfigError).
import { ExitCode } from '../cli/exit-codes.ts';
import { formatIp, parseIp } from './checksum.ts';
import { isMulticastMac, parseMac } from './ethernet.ts';

export class NetSpecError extends Error {
  override readonly name = 'NetSpecError';
  readonly exitCode = ExitCode.Usage;
}

export interface HostForward {
  protocol: 'tcp' | 'udp';
  /** Host address to listen on (default 127.0.0.1: forwards are not exposed to the LAN unless asked). */
  hostAddr: string;
  /** 0: any free port (see PortForwards.boundTcpPorts). */
  hostPort: number;
  guestAddr: number;
  guestPort: number;
}

export interface UserNetSpec {
  kind: 'user';
  mac?: Uint8Array;
  net: number;
  prefix: number;
  host: number;
  dns: number;
  guest: number;
  hostfwd: HostForward[];
}

export interface TapNetSpec { kind: 'tap'; ifname: string; mtu: number; mac?: Uint8Array }
/** Unix stream socket with QEMU's 4-byte length framing. */
export interface StreamSocketNetSpec { kind: 'socket'; path: string; mac?: Uint8Array }
/**
 * Unix datagram socket, one frame per datagram (vfkit's protocol: gvproxy --listen-vfkit,
 * vmnet-helper --socket): connect to `path` from a socket bound at `local`, or use the
 * inherited datagram socket `fd` (vmnet-helper --fd / vmnet-run).
 */
export type DgramSocketNetSpec = { kind: 'dgram'; mtu: number; mac?: Uint8Array } & ({ path: string; local?: string; fd?: undefined } | { fd: number; path?: undefined; local?: undefined });

export type NetSpec = UserNetSpec | TapNetSpec | StreamSocketNetSpec | DgramSocketNetSpec;

/** MTU of tap and datagram links unless mtu= says otherwise (what gvproxy and vmnet use). */
export const DEFAULT_LINK_MTU = 1500;
/** Bytes a frame adds to its MTU: Ethernet header and one 802.1Q tag. */
export const FRAME_OVERHEAD = 18;
export const MIN_LINK_MTU = 68;
export const MAX_LINK_MTU = 65535 - FRAME_OVERHEAD;

export const DEFAULT_MAC = new Uint8Array([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

/** The default MAC of interface `index`: 52:54:00:12:34:56 plus the index. */
export function defaultMac(index: number): Uint8Array {
  const m = DEFAULT_MAC.slice();
  let carry = index;
  for (let i = 5; i >= 3 && carry > 0; i--) {
    const v = m[i] + carry;
    m[i] = v & 0xff;
    carry = v >> 8;
  }
  return m;
}

const netmask = (prefix: number): number => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

function parsePort(spec: string, what: string, text: string, min = 1): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < min || Number(text) > 65535) throw new NetSpecError(`invalid --net '${spec}': ${what} '${text}' is not a port ${min}-65535`);
  return Number(text);
}

function parseHostfwd(spec: string, value: string, guestDefault: number, inNet: (ip: number) => boolean): HostForward {
  const m = /^(tcp|udp):([^:]*):([^-]*)-([^:]*):(.*)$/.exec(value);
  if (!m) throw new NetSpecError(`invalid --net '${spec}': hostfwd '${value}' is not tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT`);
  const hostAddr = m[2] === '' ? '127.0.0.1' : m[2];
  if (parseIp(hostAddr) === undefined) throw new NetSpecError(`invalid --net '${spec}': hostfwd host address '${m[2]}' is not an IPv4 address`);
  let guestAddr = guestDefault;
  if (m[4] !== '') {
    const g = parseIp(m[4]);
    if (g === undefined || !inNet(g)) throw new NetSpecError(`invalid --net '${spec}': hostfwd guest address '${m[4]}' is not an address of the user network`);
    guestAddr = g;
  }
  return { protocol: m[1] as 'tcp' | 'udp', hostAddr, hostPort: parsePort(spec, 'hostfwd host port', m[3], 0), guestAddr, guestPort: parsePort(spec, 'hostfwd guest port', m[5]) };
}

export function parseNetSpec(spec: string): NetSpec {
  const [kind, ...rest] = spec.split(',');
  const opts: [string, string][] = rest.map((o) => {
    const eq = o.indexOf('=');
    if (eq <= 0) throw new NetSpecError(`invalid --net '${spec}': option '${o}' is not KEY=VALUE`);
    return [o.slice(0, eq), o.slice(eq + 1)];
  });
  const once = new Set<string>();
  const single = (k: string): void => {
    if (once.has(k)) throw new NetSpecError(`invalid --net '${spec}': option '${k}' given twice`);
    once.add(k);
  };
  let mac: Uint8Array | undefined;
  const takeMac = (v: string): void => {
    mac = parseMac(v);
    if (!mac || isMulticastMac(mac)) throw new NetSpecError(`invalid --net '${spec}': mac '${v}' is not a unicast MAC address like 52:54:00:12:34:56`);
  };
  const unknown = (k: string, allowed: string): never => {
    throw new NetSpecError(`invalid --net '${spec}': unknown option '${k}' for ${kind} (expected ${allowed})`);
  };

  if (kind === 'user') {
    let net = parseIp('10.0.2.0')!;
    let prefix = 24;
    let host: number | undefined;
    let dns: number | undefined;
    const fwds: string[] = [];
    for (const [k, v] of opts) {
      if (k !== 'hostfwd') single(k);
      if (k === 'net') {
        const m = /^([^/]+)\/(\d{1,2})$/.exec(v);
        const ip = m ? parseIp(m[1]) : undefined;
        if (!m || ip === undefined || Number(m[2]) < 8 || Number(m[2]) > 30) throw new NetSpecError(`invalid --net '${spec}': net '${v}' is not ADDRESS/PREFIX with a prefix of 8 to 30`);
        prefix = Number(m[2]);
        net = (ip & netmask(prefix)) >>> 0;
      } else if (k === 'host' || k === 'dns') {
        const ip = parseIp(v);
        if (ip === undefined) throw new NetSpecError(`invalid --net '${spec}': ${k} '${v}' is not an IPv4 address`);
        if (k === 'host') host = ip;
        else dns = ip;
      } else if (k === 'mac') takeMac(v);
      else if (k === 'hostfwd') fwds.push(v);
      else unknown(k, 'net, host, dns, mac or hostfwd');
    }
    const mask = netmask(prefix);
    const inNet = (ip: number): boolean => ((ip & mask) >>> 0) === net && ip !== net && ip !== ((net | ~mask) >>> 0);
    host ??= (net + 2) >>> 0;
    dns ??= (net + 3) >>> 0;
    const guest = (net + 15) >>> 0;
    for (const [k, ip] of [['host', host], ['dns', dns]] as const) {
      if (!inNet(ip)) throw new NetSpecError(`invalid --net '${spec}': ${k} ${formatIp(ip)} is not inside ${formatIp(net)}/${prefix}`);
      if (ip === guest) throw new NetSpecError(`invalid --net '${spec}': ${k} ${formatIp(ip)} is the guest's address`);
    }
    if (!inNet(guest)) throw new NetSpecError(`invalid --net '${spec}': the network ${formatIp(net)}/${prefix} has no room for the guest at .15`);
    const hostfwd = fwds.map((f) => parseHostfwd(spec, f, guest, inNet));
    const seen = new Set<string>();
    for (const f of hostfwd) {
      const key = `${f.protocol}:${f.hostAddr}:${f.hostPort}`;
      if (seen.has(key)) throw new NetSpecError(`invalid --net '${spec}': hostfwd ${key} given twice`);
      seen.add(key);
    }
    return { kind: 'user', mac, net, prefix, host, dns, guest, hostfwd };
  }
  let mtu = DEFAULT_LINK_MTU;
  const takeMtu = (v: string): void => {
    if (!/^\d{1,5}$/.test(v) || Number(v) < MIN_LINK_MTU || Number(v) > MAX_LINK_MTU) throw new NetSpecError(`invalid --net '${spec}': mtu '${v}' is not a number from ${MIN_LINK_MTU} to ${MAX_LINK_MTU}`);
    mtu = Number(v);
  };
  if (kind === 'tap') {
    let ifname: string | undefined;
    for (const [k, v] of opts) {
      single(k);
      if (k === 'ifname') ifname = v;
      else if (k === 'mac') takeMac(v);
      else if (k === 'mtu') takeMtu(v);
      else unknown(k, 'ifname, mtu or mac');
    }
    if (!ifname || !/^[A-Za-z0-9_.-]{1,15}$/.test(ifname)) throw new NetSpecError(`invalid --net '${spec}': tap needs ifname=NAME (1-15 letters, digits, . _ -)`);
    return { kind: 'tap', ifname, mtu, mac };
  }
  if (kind === 'socket') {
    const got = new Map<string, string>();
    for (const [k, v] of opts) {
      single(k);
      if (k === 'mac') takeMac(v);
      else if (['path', 'type', 'local', 'fd', 'mtu'].includes(k)) got.set(k, v);
      else unknown(k, 'path, type, local, fd, mtu or mac');
    }
    const type = got.get('type') ?? 'stream';
    const path = got.get('path');
    if (path === '') throw new NetSpecError(`invalid --net '${spec}': path is empty`);
    if (type === 'stream') {
      for (const k of ['local', 'fd', 'mtu']) if (got.has(k)) throw new NetSpecError(`invalid --net '${spec}': ${k}= needs type=dgram (a stream socket has no ${k})`);
      if (!path) throw new NetSpecError(`invalid --net '${spec}': socket needs path=PATH of a unix stream socket (or type=dgram)`);
      return { kind: 'socket', path, mac };
    }
    if (type !== 'dgram') throw new NetSpecError(`invalid --net '${spec}': type '${type}' is not stream or dgram`);
    if (got.has('mtu')) takeMtu(got.get('mtu')!);
    const fdText = got.get('fd');
    if (fdText !== undefined) {
      if (path !== undefined || got.has('local')) throw new NetSpecError(`invalid --net '${spec}': fd= is an inherited socket, so path= and local= do not apply`);
      if (!/^\d{1,9}$/.test(fdText) || Number(fdText) < 3) throw new NetSpecError(`invalid --net '${spec}': fd '${fdText}' is not an inherited descriptor number (3 or more)`);
      return { kind: 'dgram', fd: Number(fdText), mtu, mac };
    }
    if (!path) throw new NetSpecError(`invalid --net '${spec}': type=dgram needs path=PATH of the peer's unix datagram socket, or fd=N`);
    const local = got.get('local');
    if (local === '') throw new NetSpecError(`invalid --net '${spec}': local is empty`);
    if (local !== undefined && local === path) throw new NetSpecError(`invalid --net '${spec}': local and path are the same socket`);
    return local === undefined ? { kind: 'dgram', path, mtu, mac } : { kind: 'dgram', path, local, mtu, mac };
  }
  throw new NetSpecError(`invalid --net '${spec}': unknown kind '${kind}' (expected user, tap or socket)`);
}

export const netmaskOf = netmask;
