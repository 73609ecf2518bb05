// Opening the host ends of a network: a Linux tap device and AF_UNIX datagram sockets.
// Each returns a non-blocking, close-on-exec fd that a FramePort then owns.
#pragma once
#include <napi.h>

namespace nodevisor_netdev {

/** openTap(ifname, vnetHeader) -> { fd, ifname }: attach to (or create) tap device ifname;
 *  with vnetHeader every read and write starts with a 12-byte virtio_net_hdr. Linux only. */
Napi::Value OpenTap(const Napi::CallbackInfo& info);
/** setTapOffload(fd, flags): TUNSETOFFLOAD, the TUN_F_* offloads the reader accepts. */
Napi::Value SetTapOffload(const Napi::CallbackInfo& info);
/** openDgram(localPath, peerPath) -> fd: bound to localPath, connected to peerPath. */
Napi::Value OpenDgram(const Napi::CallbackInfo& info);
/** probeDgram(path) -> 0 when a live datagram socket is bound at path, else connect's errno
 *  (ENOENT: nothing there; ECONNREFUSED: a socket file no process holds). */
Napi::Value ProbeDgram(const Napi::CallbackInfo& info);
/** adoptDgram(fd) -> fd: an inherited fd, checked to be a datagram socket, made non-blocking. */
Napi::Value AdoptDgram(const Napi::CallbackInfo& info);
/** closeFd(fd): for an fd no FramePort took over. */
Napi::Value CloseFd(const Napi::CallbackInfo& info);

}  // namespace nodevisor_netdev
