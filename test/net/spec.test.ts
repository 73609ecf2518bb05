import { expect } from 'chai';
import { formatIp } from '../../src/net/checksum.ts';
import { formatMac } from '../../src/net/ethernet.ts';
import { NetSpecError, defaultMac, parseNetSpec, type UserNetSpec } from '../../src/net/spec.ts';
import { exitCodeFor } from '../../src/cli/errors.ts';
import { attachVirtioDevices } from '../../src/vmm/virtio-devices.ts';

const user = (s: string): UserNetSpec => parseNetSpec(s) as UserNetSpec;

describe('net spec parser', () => {
  it('fills in the slirp defaults for a bare user network', () => {
    const s = user('user');
    expect(s.kind).to.equal('user');
    expect([formatIp(s.net), s.prefix, formatIp(s.host), formatIp(s.dns), formatIp(s.guest)]).to.deep.equal(['10.0.2.0', 24, '10.0.2.2', '10.0.2.3', '10.0.2.15']);
    expect(s.hostfwd).to.deep.equal([]);
    expect(s.mac).to.equal(undefined);
  });

  it('parses net, host, dns, mac and several hostfwd options', () => {
    const s = user('user,net=192.168.76.9/24,host=192.168.76.1,dns=192.168.76.53,mac=52:54:00:aa:bb:cc,hostfwd=tcp::2222-:22,hostfwd=udp:127.0.0.1:5353-192.168.76.15:53');
    expect(formatIp(s.net)).to.equal('192.168.76.0');
    expect(formatIp(s.guest)).to.equal('192.168.76.15');
    expect(formatIp(s.host)).to.equal('192.168.76.1');
    expect(formatMac(s.mac!)).to.equal('52:54:00:aa:bb:cc');
    expect(s.hostfwd.map((f) => [f.protocol, f.hostAddr, f.hostPort, formatIp(f.guestAddr), f.guestPort])).to.deep.equal([
      ['tcp', '127.0.0.1', 2222, '192.168.76.15', 22],
      ['udp', '127.0.0.1', 5353, '192.168.76.15', 53],
    ]);
  });

  it('parses tap and socket specs', () => {
    expect(parseNetSpec('tap,ifname=tap0')).to.deep.include({ kind: 'tap', ifname: 'tap0' });
    expect(parseNetSpec('socket,path=/tmp/n.sock')).to.deep.include({ kind: 'socket', path: '/tmp/n.sock' });
  });

  it('parses tap mtu= and the datagram socket forms', () => {
    expect(parseNetSpec('tap,ifname=tap0')).to.deep.include({ mtu: 1500 });
    expect(parseNetSpec('tap,ifname=tap0,mtu=9000')).to.deep.include({ kind: 'tap', ifname: 'tap0', mtu: 9000 });
    expect(parseNetSpec('socket,type=stream,path=/tmp/n.sock')).to.deep.equal({ kind: 'socket', path: '/tmp/n.sock', mac: undefined });
    expect(parseNetSpec('socket,type=dgram,path=/tmp/gv.sock')).to.deep.equal({ kind: 'dgram', path: '/tmp/gv.sock', mtu: 1500, mac: undefined });
    expect(parseNetSpec('socket,path=/tmp/gv.sock,type=dgram,local=/tmp/me.sock,mtu=4000')).to.deep.include({ kind: 'dgram', path: '/tmp/gv.sock', local: '/tmp/me.sock', mtu: 4000 });
    const fd = parseNetSpec('socket,type=dgram,fd=4,mac=52:54:00:00:00:09');
    expect(fd).to.deep.include({ kind: 'dgram', fd: 4, mtu: 1500 });
    expect(formatMac(fd.mac!)).to.equal('52:54:00:00:00:09');
  });

  const bad: [string, RegExp][] = [
    ['', /unknown kind/],
    ['bridge', /unknown kind 'bridge'/],
    ['user,foo=1', /unknown option 'foo'/],
    ['user,net', /not KEY=VALUE/],
    ['user,net=10.0.2.0', /ADDRESS\/PREFIX/],
    ['user,net=10.0.2.0/31', /prefix of 8 to 30/],
    ['user,host=10.0.3.2', /not inside 10.0.2.0\/24/],
    ['user,dns=10.0.2.15', /guest's address/],
    ['user,host=300.1.1.1', /not an IPv4 address/],
    ['user,mac=01:00:5e:00:00:01', /unicast MAC/],
    ['user,mac=zz', /unicast MAC/],
    ['user,hostfwd=tcp:2222:22', /hostfwd/],
    ['user,hostfwd=sctp::1-:2', /hostfwd/],
    ['user,hostfwd=tcp::70000-:22', /not a port/],
    ['user,hostfwd=tcp::22-:0', /not a port/],
    ['user,hostfwd=tcp:localhost:22-:22', /not an IPv4 address/],
    ['user,hostfwd=tcp::22-10.9.9.9:22', /not an address of the user network/],
    ['user,hostfwd=tcp::22-:22,hostfwd=tcp::22-:23', /given twice/],
    ['user,dns=10.0.2.3,dns=10.0.2.4', /given twice/],
    ['tap', /ifname=NAME/],
    ['tap,ifname=this-name-is-far-too-long', /ifname=NAME/],
    ['socket', /path=PATH/],
    ['socket,path=/x,ifname=y', /unknown option 'ifname'/],
    ['tap,ifname=tap0,mtu=67', /mtu '67' is not a number from 68 to 65517/],
    ['tap,ifname=tap0,mtu=65518', /mtu/],
    ['tap,ifname=tap0,mtu=1e3', /mtu/],
    ['socket,path=/x,type=seqpacket', /type 'seqpacket' is not stream or dgram/],
    ['socket,path=/x,local=/y', /local= needs type=dgram/],
    ['socket,path=/x,mtu=9000', /mtu= needs type=dgram/],
    ['socket,fd=3', /fd= needs type=dgram/],
    ['socket,type=dgram', /type=dgram needs path=PATH .* or fd=N/],
    ['socket,type=dgram,path=', /path is empty/],
    ['socket,type=dgram,path=/x,local=', /local is empty/],
    ['socket,type=dgram,path=/x,local=/x', /the same socket/],
    ['socket,type=dgram,fd=4,path=/x', /fd= is an inherited socket/],
    ['socket,type=dgram,fd=2', /fd '2' is not an inherited descriptor/],
    ['socket,type=dgram,fd=x', /fd 'x'/],
    ['socket,type=dgram,path=/x,type=dgram', /given twice/],
  ];
  for (const [spec, re] of bad) {
    it(`rejects '${spec}' with one line`, () => {
      let err: unknown;
      try {
        parseNetSpec(spec);
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(NetSpecError);
      const msg = (err as Error).message;
      expect(msg).to.match(re);
      expect(msg).to.not.include('\n');
      expect(msg).to.include(`'${spec}'`);
      expect(exitCodeFor(err)).to.equal(2);
    });
  }

  it('derives per-interface default MACs', () => {
    expect(formatMac(defaultMac(0))).to.equal('52:54:00:12:34:56');
    expect(formatMac(defaultMac(1))).to.equal('52:54:00:12:34:57');
    expect(formatMac(defaultMac(0xaa))).to.equal('52:54:00:12:35:00');
  });
});

describe('--net in the virtio device plan', () => {
  it('puts network interfaces last and rejects a bad spec before any device opens', () => {
    const kinds = attachVirtioDevices.describe({ net: ['user', 'user,mac=52:54:00:00:00:09'] }).map((d) => d.kind);
    expect(kinds.slice(-2)).to.deep.equal(['net', 'net']);
    expect(() => attachVirtioDevices.describe({ net: ['user,bogus=1'] })).to.throw(NetSpecError, /unknown option 'bogus'/);
  });
});
