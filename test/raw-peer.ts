import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import type { PrivateKey } from '@libp2p/interface';
import { tcp } from '@libp2p/tcp';
import { createLibp2p, type Libp2p } from 'libp2p';

/**
 * A stock libp2p node on loopback (TCP, noise, yamux), none of vsmr's host around it: the peer
 * that does what a vsmr host never would (stops reading, answers out of turn). With
 * `fixedWindow`, its yamux receive window may not grow past the initial 256 KiB, so a writer
 * outruns it as soon as it stops reading.
 */
export function rawPeer(privateKey: PrivateKey, opts: { fixedWindow?: boolean } = {}): Promise<Libp2p> {
  return createLibp2p({
    privateKey,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux(opts.fixedWindow ? { streamOptions: { maxStreamWindowSize: 256 * 1024 } } : {})],
  });
}
