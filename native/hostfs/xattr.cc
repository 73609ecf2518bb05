// Extended attributes (virtio-fs) and hole punching (virtio-blk DISCARD / WRITE_ZEROES).
// An xattr target is an open fd (f* calls), a path whose last component is never followed (l*
// calls on Linux, XATTR_NOFOLLOW on macOS; the caller confines it), or a name beneath a share
// root ({ root, dir, name }), opened here without following it: on Linux with O_PATH, whose
// /proc/self/fd link leads to exactly that inode (a symlink's own attributes, never its
// target's); on macOS with O_SYMLINK, which opens a symlink itself.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#ifdef __linux__
#include <linux/falloc.h>
#endif

#include "args.h"
#include "beneath.h"
#include "job.h"
#include "ops.h"

namespace hostfs {
namespace {

// Flags as the guest (Linux) spells them; translated for macOS.
constexpr int kCreate = 1;
constexpr int kReplace = 2;

struct Target {
  int fd = -1;
  std::string path;  // when fd < 0 and !beneath
  bool beneath = false;
  Beneath at;
};

/** What the calls act on: an fd, or a path that is never followed (follow=false) or is a /proc/self/fd magic link (follow=true). */
struct Resolved {
  int fd = -1;
  std::string path;
  bool follow = false;
  Fd parent, node;
};

#ifdef __linux__
bool ProcFdAvailable() {
  static const bool available = access("/proc/self/fd", X_OK) == 0;
  return available;
}
#endif

bool Resolve(const Target& t, Resolved* r, Outcome& out) {
  if (!t.beneath) {
    r->fd = t.fd;
    r->path = t.path;
    return true;
  }
  r->parent = OpenBeneath(t.at.root, t.at.dir);
  if (!r->parent.ok()) return out.Fail("resolve");
  const char* name = t.at.name.c_str();
#ifdef __linux__
  int fd = Retry([&] { return openat(r->parent.get(), name, O_PATH | O_NOFOLLOW | O_CLOEXEC); });
  if (fd < 0) return out.Fail("openat");
  r->node = Fd(fd, true);
  if (ProcFdAvailable()) {
    r->path = "/proc/self/fd/" + std::to_string(fd);
    r->follow = true;
    return true;
  }
  // No /proc: only what can be opened for reading without following it (files, directories).
  fd = Retry([&] { return openat(r->parent.get(), name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC); });
#else
#ifdef O_EVTONLY
  const int how = O_EVTONLY;  // needs no read permission
#else
  const int how = O_RDONLY;
#endif
  const int fd = Retry([&] { return openat(r->parent.get(), name, how | O_SYMLINK | O_NONBLOCK | O_CLOEXEC); });
#endif
  if (fd < 0) return out.Fail("openat");
  r->node = Fd(fd, true);
  r->fd = fd;
  return true;
}

ssize_t DoGet(const Resolved& t, const char* name, void* buf, size_t size) {
#ifdef __APPLE__
  return t.fd >= 0 ? fgetxattr(t.fd, name, buf, size, 0, 0) : getxattr(t.path.c_str(), name, buf, size, 0, XATTR_NOFOLLOW);
#else
  if (t.fd >= 0) return fgetxattr(t.fd, name, buf, size);
  return t.follow ? getxattr(t.path.c_str(), name, buf, size) : lgetxattr(t.path.c_str(), name, buf, size);
#endif
}

ssize_t DoList(const Resolved& t, char* buf, size_t size) {
#ifdef __APPLE__
  return t.fd >= 0 ? flistxattr(t.fd, buf, size, 0) : listxattr(t.path.c_str(), buf, size, XATTR_NOFOLLOW);
#else
  if (t.fd >= 0) return flistxattr(t.fd, buf, size);
  return t.follow ? listxattr(t.path.c_str(), buf, size) : llistxattr(t.path.c_str(), buf, size);
#endif
}

int DoSet(const Resolved& t, const char* name, const void* value, size_t size, int flags) {
  int f = 0;
  if (flags & kCreate) f |= XATTR_CREATE;
  if (flags & kReplace) f |= XATTR_REPLACE;
#ifdef __APPLE__
  return t.fd >= 0 ? fsetxattr(t.fd, name, value, size, 0, f) : setxattr(t.path.c_str(), name, value, size, 0, f | XATTR_NOFOLLOW);
#else
  if (t.fd >= 0) return fsetxattr(t.fd, name, value, size, f);
  return t.follow ? setxattr(t.path.c_str(), name, value, size, f) : lsetxattr(t.path.c_str(), name, value, size, f);
#endif
}

int DoRemove(const Resolved& t, const char* name) {
#ifdef __APPLE__
  return t.fd >= 0 ? fremovexattr(t.fd, name, 0) : removexattr(t.path.c_str(), name, XATTR_NOFOLLOW);
#else
  if (t.fd >= 0) return fremovexattr(t.fd, name);
  return t.follow ? removexattr(t.path.c_str(), name) : lremovexattr(t.path.c_str(), name);
#endif
}

/** A Get or List: size 0 resolves with the length, else with the bytes. */
struct ReadXattr {
  Target target;
  std::string name;  // empty: list
  size_t size = 0;
  std::vector<char> buf;
  ssize_t got = 0;
  void Run(Outcome& out) {
    Resolved r;
    if (!Resolve(target, &r, out)) return;
    buf.assign(size, 0);
    char* p = size ? buf.data() : nullptr;
    got = Retry([&] { return name.empty() ? DoList(r, p, size) : DoGet(r, name.c_str(), p, size); });
    if (got < 0) out.Fail(name.empty() ? "listxattr" : "getxattr");
  }
  Napi::Value Result(Napi::Env env) {
    if (size == 0) return Napi::Number::New(env, static_cast<double>(got));
    return Napi::Buffer<char>::Copy(env, buf.data(), static_cast<size_t>(got));
  }
};

struct WriteXattr {
  Target target;
  std::string name;
  bool remove = false;
  std::vector<char> value;
  int flags = 0;
  void Run(Outcome& out) {
    Resolved r;
    if (!Resolve(target, &r, out)) return;
    const int rc = Retry([&] { return remove ? DoRemove(r, name.c_str()) : DoSet(r, name.c_str(), value.data(), value.size(), flags); });
    if (rc != 0) out.Fail(remove ? "removexattr" : "setxattr");
  }
  Napi::Value Result(Napi::Env env) { return env.Undefined(); }
};

/** Punches [offset, offset+length); resolves with the range actually deallocated (macOS: block-aligned inward). */
struct Punch {
  int fd = -1;
  int64_t offset = 0, length = 0, doneOffset = 0, doneLength = 0;
  void Run(Outcome& out) {
#ifdef __APPLE__
    struct stat st;
    if (fstat(fd, &st) != 0) return void(out.Fail("punchhole"));
    const int64_t bs = st.st_blksize > 0 ? st.st_blksize : 4096;
    const int64_t start = (offset + bs - 1) / bs * bs;
    const int64_t end = (offset + length) / bs * bs;
    doneOffset = start;
    doneLength = end > start ? end - start : 0;
    if (end <= start) return;
    fpunchhole_t args;
    std::memset(&args, 0, sizeof args);
    args.fp_offset = start;
    args.fp_length = end - start;
    if (Retry([&] { return fcntl(fd, F_PUNCHHOLE, &args); }) != 0) out.Fail("punchhole");
#else
    doneOffset = offset;
    doneLength = length;
    if (Retry([&] { return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length); }) != 0) out.Fail("punchhole");
#endif
  }
  Napi::Value Result(Napi::Env env) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("offset", Napi::Number::New(env, static_cast<double>(doneOffset)));
    o.Set("length", Napi::Number::New(env, static_cast<double>(doneLength)));
    return o;
  }
};

bool ReadTarget(const Napi::Value& v, Target* t) {
  if (v.IsNumber()) return ReadFd(v, &t->fd);
  if (v.IsString()) return ReadString(v, &t->path);
  t->beneath = true;
  return ReadBeneath(v, true, &t->at);
}

// getxattr(target, name: Buffer, size): Promise<number | Buffer>  (size 0: the value's length)
Napi::Value GetXattr(const Napi::CallbackInfo& info) {
  ReadXattr op;
  if (info.Length() < 3 || !ReadTarget(info[0], &op.target) || !ReadName(info[1], &op.name) || !ReadSize(info[2], &op.size))
    return ThrowType(info.Env(), "getxattr(target: fd | path | { root, dir, name }, name: Buffer, size: 0..65536)");
  return Job<ReadXattr>::Start(info.Env(), std::move(op));
}

// listxattr(target, size): Promise<number | Buffer>
Napi::Value ListXattr(const Napi::CallbackInfo& info) {
  ReadXattr op;
  if (info.Length() < 2 || !ReadTarget(info[0], &op.target) || !ReadSize(info[1], &op.size))
    return ThrowType(info.Env(), "listxattr(target: fd | path | { root, dir, name }, size: 0..65536)");
  return Job<ReadXattr>::Start(info.Env(), std::move(op));
}

// setxattr(target, name: Buffer, value: Buffer, flags: 1 create | 2 replace): Promise<void>
Napi::Value SetXattr(const Napi::CallbackInfo& info) {
  WriteXattr op;
  int64_t flags;
  if (info.Length() < 4 || !ReadTarget(info[0], &op.target) || !ReadName(info[1], &op.name) || !info[2].IsBuffer() ||
      !ReadInt(info[3], 0, kCreate | kReplace, &flags) || info[2].As<Napi::Buffer<char>>().Length() > kMaxBuffer)
    return ThrowType(info.Env(), "setxattr(target: fd | path | { root, dir, name }, name: Buffer, value: Buffer of at most 64 KiB, flags: 0..3)");
  auto v = info[2].As<Napi::Buffer<char>>();
  op.value.assign(v.Data(), v.Data() + v.Length());
  op.flags = static_cast<int>(flags);
  return Job<WriteXattr>::Start(info.Env(), std::move(op));
}

// removexattr(target, name: Buffer): Promise<void>
Napi::Value RemoveXattr(const Napi::CallbackInfo& info) {
  WriteXattr op;
  op.remove = true;
  if (info.Length() < 2 || !ReadTarget(info[0], &op.target) || !ReadName(info[1], &op.name))
    return ThrowType(info.Env(), "removexattr(target: fd | path | { root, dir, name }, name: Buffer)");
  return Job<WriteXattr>::Start(info.Env(), std::move(op));
}

// punchHole(fd, offset, length): Promise<{ offset, length }> — reads of the range return zeros, the size is unchanged.
Napi::Value PunchHole(const Napi::CallbackInfo& info) {
  Punch op;
  constexpr int64_t kMaxSafe = 9007199254740991;
  if (info.Length() < 3 || !ReadFd(info[0], &op.fd) || !ReadInt(info[1], 0, kMaxSafe, &op.offset) || !ReadInt(info[2], 1, kMaxSafe, &op.length) ||
      op.offset + op.length > kMaxSafe)
    return ThrowType(info.Env(), "punchHole(fd, offset >= 0, length > 0): integers");
  return Job<Punch>::Start(info.Env(), std::move(op));
}

}  // namespace

void RegisterXattrOps(Napi::Env env, Napi::Object exports) {
  exports.Set("getxattr", Napi::Function::New(env, GetXattr, "getxattr"));
  exports.Set("setxattr", Napi::Function::New(env, SetXattr, "setxattr"));
  exports.Set("listxattr", Napi::Function::New(env, ListXattr, "listxattr"));
  exports.Set("removexattr", Napi::Function::New(env, RemoveXattr, "removexattr"));
  exports.Set("punchHole", Napi::Function::New(env, PunchHole, "punchHole"));
}

}  // namespace hostfs
