#include "endpoints.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>

#ifdef __linux__
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#endif

#include "errors.h"

namespace nodevisor_netdev {

namespace {

// Frames are at most 64 KiB; these leave room for a burst (macOS's defaults are a few KiB,
// too small for even a 1514-byte frame on some versions).
constexpr int kSendBuffer = 1 << 20;
constexpr int kRecvBuffer = 4 << 20;

bool SetFlags(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return false;
  int fdfl = fcntl(fd, F_GETFD);
  return fdfl >= 0 && fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) >= 0;
}

bool FillAddr(const std::string& path, sockaddr_un* addr) {
  std::memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr->sun_path)) return false;
  std::memcpy(addr->sun_path, path.data(), path.size());
#ifdef __APPLE__
  addr->sun_len = sizeof(*addr);
#endif
  return true;
}

bool StringArg(const Napi::CallbackInfo& info, size_t i, const char* what, std::string* out) {
  if (info.Length() <= i || !info[i].IsString()) {
    Napi::TypeError::New(info.Env(), std::string(what) + " must be a string").ThrowAsJavaScriptException();
    return false;
  }
  *out = info[i].As<Napi::String>().Utf8Value();
  if (out->find('\0') != std::string::npos) {
    Napi::TypeError::New(info.Env(), std::string(what) + " contains a NUL byte").ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

bool FdArg(const Napi::CallbackInfo& info, int* fd) {
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(info.Env(), "fd must be a number").ThrowAsJavaScriptException();
    return false;
  }
  double v = info[0].As<Napi::Number>().DoubleValue();
  if (!(v >= 0 && v <= 2147483647.0) || v != static_cast<double>(static_cast<int>(v))) {
    Napi::TypeError::New(info.Env(), "fd must be a non-negative integer").ThrowAsJavaScriptException();
    return false;
  }
  *fd = static_cast<int>(v);
  return true;
}

void SizeBuffers(int fd) {
  // Best effort: a smaller buffer only means earlier drops under load.
  (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &kSendBuffer, sizeof(kSendBuffer));
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &kRecvBuffer, sizeof(kRecvBuffer));
}

void NoSigPipe(int fd) {
#ifdef SO_NOSIGPIPE
  // macOS: a send to a vanished peer returns EPIPE instead of raising SIGPIPE (Node ignores the
  // signal, but an embedder's process might not).
  int one = 1;
  (void)setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
#else
  (void)fd;
#endif
}

}  // namespace

Napi::Value OpenTap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!StringArg(info, 0, "ifname", &name)) return env.Undefined();
#ifdef __linux__
  bool vnet = info.Length() > 1 && info[1].ToBoolean().Value();
  if (name.empty() || name.size() >= IFNAMSIZ) {
    ErrnoError(env, "TUNSETIFF", EINVAL, name).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    ErrnoError(env, "open", errno, "/dev/net/tun").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  struct ifreq ifr;
  std::memset(&ifr, 0, sizeof(ifr));
  // No packet-information header: one read or write is one frame, behind a virtio-net header
  // when asked (the kernel then takes and gives partial checksums and TSO as the guest does).
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    ErrnoError(env, "TUNSETIFF", err, name).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // The 12-byte header of VIRTIO_F_VERSION_1 (num_buffers included), as the device uses.
  int hdr_size = 12;
  if (vnet && ioctl(fd, TUNSETVNETHDRSZ, &hdr_size) < 0) {
    int err = errno;
    close(fd);
    ErrnoError(env, "TUNSETVNETHDRSZ", err, name).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, fd));
  out.Set("ifname", Napi::String::New(env, std::string(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ))));
  return out;
#else
  ErrnoError(env, "TUNSETIFF", ENOTSUP, name).ThrowAsJavaScriptException();
  return env.Undefined();
#endif
}

Napi::Value SetTapOffload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!FdArg(info, &fd)) return env.Undefined();
  if (info.Length() < 2 || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "flags must be a number").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  unsigned int flags = info[1].As<Napi::Number>().Uint32Value();
#ifdef __linux__
  if (ioctl(fd, TUNSETOFFLOAD, static_cast<unsigned long>(flags)) < 0) {
    ErrnoError(env, "TUNSETOFFLOAD", errno, "fd " + std::to_string(fd)).ThrowAsJavaScriptException();
  }
#else
  (void)flags;
  ErrnoError(env, "TUNSETOFFLOAD", ENOTSUP).ThrowAsJavaScriptException();
#endif
  return env.Undefined();
}

Napi::Value OpenDgram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string local, peer;
  if (!StringArg(info, 0, "localPath", &local) || !StringArg(info, 1, "peerPath", &peer)) return env.Undefined();
  sockaddr_un local_addr, peer_addr;
  if (!FillAddr(local, &local_addr)) {
    ErrnoError(env, "bind", ENAMETOOLONG, local).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!FillAddr(peer, &peer_addr)) {
    ErrnoError(env, "connect", ENAMETOOLONG, peer).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
  if (fd < 0) {
    ErrnoError(env, "socket", errno).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!SetFlags(fd)) {
    int err = errno;
    close(fd);
    ErrnoError(env, "fcntl", err).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  SizeBuffers(fd);
  NoSigPipe(fd);
  // The peer learns where to send from our bound address (gvproxy and vmnet-helper read it
  // off the first datagram), so an unbound socket would only ever transmit.
  if (bind(fd, reinterpret_cast<sockaddr*>(&local_addr), sizeof(local_addr)) < 0) {
    int err = errno;
    close(fd);
    ErrnoError(env, "bind", err, local).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (connect(fd, reinterpret_cast<sockaddr*>(&peer_addr), sizeof(peer_addr)) < 0) {
    int err = errno;
    close(fd);
    unlink(local.c_str());  // bound just above, so ours to remove
    ErrnoError(env, "connect", err, peer).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

Napi::Value ProbeDgram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  if (!StringArg(info, 0, "path", &path)) return env.Undefined();
  sockaddr_un addr;
  if (!FillAddr(path, &addr)) return Napi::Number::New(env, ENAMETOOLONG);
  // Connecting an unbound datagram socket sends nothing, so the peer never sees the probe.
  int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
  if (fd < 0) return Napi::Number::New(env, errno);
  int err = 0;
  if (!SetFlags(fd)) err = errno;
  else if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) err = errno;
  close(fd);
  return Napi::Number::New(env, err);
}

Napi::Value AdoptDgram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!FdArg(info, &fd)) return env.Undefined();
  int type = 0;
  socklen_t len = sizeof(type);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
    ErrnoError(env, "getsockopt", errno, "fd " + std::to_string(fd)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (type != SOCK_DGRAM) {
    ErrnoError(env, "getsockopt", EPROTOTYPE, "fd " + std::to_string(fd) + " (not a datagram socket)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!SetFlags(fd)) {
    ErrnoError(env, "fcntl", errno, "fd " + std::to_string(fd)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  SizeBuffers(fd);
  NoSigPipe(fd);
  return Napi::Number::New(env, fd);
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  int fd;
  if (FdArg(info, &fd)) close(fd);
  return info.Env().Undefined();
}

}  // namespace nodevisor_netdev
