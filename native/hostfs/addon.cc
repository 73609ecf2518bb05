// nodevisor_hostfs: host filesystem calls Node's fs lacks — extended attributes (for virtio-fs)
// and hole punching (for virtio-blk DISCARD / WRITE_ZEROES). Every call runs on the libuv
// threadpool (Napi::AsyncWorker) and settles a Promise; a failure rejects with an Error carrying
// `errno` (the host's, positive) and `syscall`. The interface is described in
// src/host/hostfs-native.ts; bump kAbiVersion with it.
//
// A target is either an open fd (f* calls) or a path whose last component is never followed
// (l* calls on Linux, XATTR_NOFOLLOW on macOS): the caller resolves and confines the path.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <napi.h>

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

namespace {

constexpr uint32_t kAbiVersion = 1;  // src/host/hostfs-native.ts HOSTFS_ABI_VERSION
// Flags as the guest (Linux) spells them; translated for macOS.
constexpr int kCreate = 1;
constexpr int kReplace = 2;
// No value or list is read into memory beyond this (XATTR_SIZE_MAX, 64 KiB, is Linux's own cap).
constexpr size_t kMaxBuffer = 1 << 16;

enum class Kind { Get, Set, List, Remove, Punch };

struct Target {
  int fd = -1;
  std::string path;  // used when fd < 0
};

ssize_t DoGet(const Target& t, const char* name, void* buf, size_t size) {
#ifdef __APPLE__
  return t.fd >= 0 ? fgetxattr(t.fd, name, buf, size, 0, 0) : getxattr(t.path.c_str(), name, buf, size, 0, XATTR_NOFOLLOW);
#else
  return t.fd >= 0 ? fgetxattr(t.fd, name, buf, size) : lgetxattr(t.path.c_str(), name, buf, size);
#endif
}

ssize_t DoList(const Target& t, char* buf, size_t size) {
#ifdef __APPLE__
  return t.fd >= 0 ? flistxattr(t.fd, buf, size, 0) : listxattr(t.path.c_str(), buf, size, XATTR_NOFOLLOW);
#else
  return t.fd >= 0 ? flistxattr(t.fd, buf, size) : llistxattr(t.path.c_str(), buf, size);
#endif
}

int DoSet(const Target& t, const char* name, const void* value, size_t size, int flags) {
  int f = 0;
  if (flags & kCreate) f |= XATTR_CREATE;
  if (flags & kReplace) f |= XATTR_REPLACE;
#ifdef __APPLE__
  return t.fd >= 0 ? fsetxattr(t.fd, name, value, size, 0, f) : setxattr(t.path.c_str(), name, value, size, 0, f | XATTR_NOFOLLOW);
#else
  return t.fd >= 0 ? fsetxattr(t.fd, name, value, size, f) : lsetxattr(t.path.c_str(), name, value, size, f);
#endif
}

int DoRemove(const Target& t, const char* name) {
#ifdef __APPLE__
  return t.fd >= 0 ? fremovexattr(t.fd, name, 0) : removexattr(t.path.c_str(), name, XATTR_NOFOLLOW);
#else
  return t.fd >= 0 ? fremovexattr(t.fd, name) : lremovexattr(t.path.c_str(), name);
#endif
}

/** Punches [offset, offset+length); sets the range actually deallocated (macOS: block-aligned inward). */
int DoPunch(int fd, int64_t offset, int64_t length, int64_t* doneOffset, int64_t* doneLength) {
#ifdef __APPLE__
  struct stat st;
  if (fstat(fd, &st) != 0) return -1;
  const int64_t bs = st.st_blksize > 0 ? st.st_blksize : 4096;
  const int64_t start = (offset + bs - 1) / bs * bs;
  const int64_t end = (offset + length) / bs * bs;
  *doneOffset = start;
  *doneLength = end > start ? end - start : 0;
  if (end <= start) return 0;
  fpunchhole_t args;
  std::memset(&args, 0, sizeof args);
  args.fp_offset = start;
  args.fp_length = end - start;
  return fcntl(fd, F_PUNCHHOLE, &args);
#else
  *doneOffset = offset;
  *doneLength = length;
  return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
#endif
}

class Op : public Napi::AsyncWorker {
 public:
  Op(Napi::Env env, Kind kind, Target target)
      : Napi::AsyncWorker(env, "nodevisor_hostfs"), deferred_(Napi::Promise::Deferred::New(env)), kind_(kind), target_(std::move(target)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  std::string name;
  std::vector<char> value;
  size_t size = 0;
  int flags = 0;
  int64_t offset = 0;
  int64_t length = 0;

 protected:
  void Execute() override {
    for (;;) {
      err_ = 0;
      switch (kind_) {
        case Kind::Get: case Kind::List: {
          out_.assign(size, 0);
          const ssize_t n = kind_ == Kind::Get ? DoGet(target_, name.c_str(), size ? out_.data() : nullptr, size)
                                               : DoList(target_, size ? out_.data() : nullptr, size);
          if (n < 0) err_ = errno;
          else result_ = n;
          break;
        }
        case Kind::Set:
          if (DoSet(target_, name.c_str(), value.data(), value.size(), flags) != 0) err_ = errno;
          break;
        case Kind::Remove:
          if (DoRemove(target_, name.c_str()) != 0) err_ = errno;
          break;
        case Kind::Punch:
          if (DoPunch(target_.fd, offset, length, &doneOffset_, &doneLength_) != 0) err_ = errno;
          break;
      }
      if (err_ != EINTR) break;
    }
#ifdef __APPLE__
    if (err_ == ENOATTR) err_ = ENODATA;  // the guest is Linux: one name for "no such attribute"
#endif
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (err_ != 0) {
      const char* call = kind_ == Kind::Get ? "getxattr" : kind_ == Kind::Set ? "setxattr" : kind_ == Kind::List ? "listxattr"
                         : kind_ == Kind::Remove ? "removexattr" : "punchhole";
      Napi::Error e = Napi::Error::New(env, std::string(call) + ": " + std::strerror(err_));
      e.Set("errno", Napi::Number::New(env, err_));
      e.Set("syscall", Napi::String::New(env, call));
      deferred_.Reject(e.Value());
      return;
    }
    switch (kind_) {
      case Kind::Get: case Kind::List:
        if (size == 0) deferred_.Resolve(Napi::Number::New(env, static_cast<double>(result_)));
        else deferred_.Resolve(Napi::Buffer<char>::Copy(env, out_.data(), static_cast<size_t>(result_)));
        break;
      case Kind::Punch: {
        Napi::Object o = Napi::Object::New(env);
        o.Set("offset", Napi::Number::New(env, static_cast<double>(doneOffset_)));
        o.Set("length", Napi::Number::New(env, static_cast<double>(doneLength_)));
        deferred_.Resolve(o);
        break;
      }
      default:
        deferred_.Resolve(env.Undefined());
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  Kind kind_;
  Target target_;
  int err_ = 0;
  ssize_t result_ = 0;
  std::vector<char> out_;
  int64_t doneOffset_ = 0;
  int64_t doneLength_ = 0;
};

Napi::Value Fail(Napi::Env env, const char* msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

bool ReadTarget(const Napi::Value& v, Target* t) {
  if (v.IsNumber()) {
    const int64_t fd = v.As<Napi::Number>().Int64Value();
    if (fd < 0 || fd > INT32_MAX) return false;
    t->fd = static_cast<int>(fd);
    return true;
  }
  if (v.IsString()) {
    t->path = v.As<Napi::String>().Utf8Value();
    return !t->path.empty() && t->path.find('\0') == std::string::npos;
  }
  return false;
}

/** A name as raw bytes (a Buffer) without NULs; the NUL terminator is added here. */
bool ReadName(const Napi::Value& v, std::string* out) {
  if (!v.IsBuffer()) return false;
  auto b = v.As<Napi::Buffer<char>>();
  out->assign(b.Data(), b.Length());
  return !out->empty() && out->find('\0') == std::string::npos;
}

bool ReadSize(const Napi::Value& v, size_t* out) {
  if (!v.IsNumber()) return false;
  const int64_t n = v.As<Napi::Number>().Int64Value();
  if (n < 0 || static_cast<uint64_t>(n) > kMaxBuffer) return false;
  *out = static_cast<size_t>(n);
  return true;
}

// getxattr(target, name: Buffer, size): Promise<number | Buffer>  (size 0: the value's length)
Napi::Value GetXattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Target t;
  std::string name;
  size_t size;
  if (info.Length() < 3 || !ReadTarget(info[0], &t) || !ReadName(info[1], &name) || !ReadSize(info[2], &size))
    return Fail(env, "getxattr(target: fd | path, name: Buffer, size: 0..65536)");
  auto* op = new Op(env, Kind::Get, std::move(t));
  op->name = std::move(name);
  op->size = size;
  Napi::Promise p = op->Promise();
  op->Queue();
  return p;
}

// listxattr(target, size): Promise<number | Buffer>
Napi::Value ListXattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Target t;
  size_t size;
  if (info.Length() < 2 || !ReadTarget(info[0], &t) || !ReadSize(info[1], &size)) return Fail(env, "listxattr(target: fd | path, size: 0..65536)");
  auto* op = new Op(env, Kind::List, std::move(t));
  op->size = size;
  Napi::Promise p = op->Promise();
  op->Queue();
  return p;
}

// setxattr(target, name: Buffer, value: Buffer, flags: 1 create | 2 replace): Promise<void>
Napi::Value SetXattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Target t;
  std::string name;
  if (info.Length() < 4 || !ReadTarget(info[0], &t) || !ReadName(info[1], &name) || !info[2].IsBuffer() || !info[3].IsNumber())
    return Fail(env, "setxattr(target: fd | path, name: Buffer, value: Buffer, flags: number)");
  auto v = info[2].As<Napi::Buffer<char>>();
  const int flags = info[3].As<Napi::Number>().Int32Value();
  if (v.Length() > kMaxBuffer || (flags & ~(kCreate | kReplace)) != 0) return Fail(env, "setxattr: value over 64 KiB or unknown flags");
  auto* op = new Op(env, Kind::Set, std::move(t));
  op->name = std::move(name);
  op->value.assign(v.Data(), v.Data() + v.Length());
  op->flags = flags;
  Napi::Promise p = op->Promise();
  op->Queue();
  return p;
}

// removexattr(target, name: Buffer): Promise<void>
Napi::Value RemoveXattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Target t;
  std::string name;
  if (info.Length() < 2 || !ReadTarget(info[0], &t) || !ReadName(info[1], &name)) return Fail(env, "removexattr(target: fd | path, name: Buffer)");
  auto* op = new Op(env, Kind::Remove, std::move(t));
  op->name = std::move(name);
  Napi::Promise p = op->Promise();
  op->Queue();
  return p;
}

// punchHole(fd, offset, length): Promise<{ offset, length }> — the range deallocated; reads of
// it return zeros and the file size is unchanged.
Napi::Value PunchHole(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber()) return Fail(env, "punchHole(fd, offset, length)");
  Target t;
  if (!ReadTarget(info[0], &t)) return Fail(env, "punchHole: bad fd");
  const double off = info[1].As<Napi::Number>().DoubleValue();
  const double len = info[2].As<Napi::Number>().DoubleValue();
  constexpr double kMaxSafe = 9007199254740991.0;
  if (!(off >= 0 && len > 0 && off + len <= kMaxSafe) || off != static_cast<double>(static_cast<int64_t>(off)) || len != static_cast<double>(static_cast<int64_t>(len)))
    return Fail(env, "punchHole: offset and length must be non-negative integers, length > 0");
  auto* op = new Op(env, Kind::Punch, std::move(t));
  op->offset = static_cast<int64_t>(off);
  op->length = static_cast<int64_t>(len);
  Napi::Promise p = op->Promise();
  op->Queue();
  return p;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Number::New(env, kAbiVersion));
  exports.Set("maxBuffer", Napi::Number::New(env, static_cast<double>(kMaxBuffer)));
  exports.Set("getxattr", Napi::Function::New(env, GetXattr, "getxattr"));
  exports.Set("setxattr", Napi::Function::New(env, SetXattr, "setxattr"));
  exports.Set("listxattr", Napi::Function::New(env, ListXattr, "listxattr"));
  exports.Set("removexattr", Napi::Function::New(env, RemoveXattr, "removexattr"));
  exports.Set("punchHole", Napi::Function::New(env, PunchHole, "punchHole"));
  return exports;
}

}  // namespace

NODE_API_MODULE(nodevisor_hostfs, Init)
