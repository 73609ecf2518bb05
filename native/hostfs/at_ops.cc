// Calls on names beneath a share root, for virtio-fs: each resolves the parent directory with
// OpenBeneath (no symlink followed, no way out of the root) and then makes exactly one call on
// that directory fd with one component that it never follows (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW,
// or calls that never follow: mkdirat, unlinkat, renameat, linkat without AT_SYMLINK_FOLLOW...).
// A failure of the resolution rejects with syscall "resolve"; of the call, with its own name.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <climits>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#ifdef __linux__
#include <sys/syscall.h>
#include <sys/vfs.h>
#else
#include <sys/mount.h>
#include <sys/param.h>
#endif

#include "args.h"
#include "beneath.h"
#include "job.h"
#include "ops.h"

#ifndef IFTODT
#define IFTODT(mode) (((mode) & 0170000) >> 12)
#endif

namespace hostfs {
namespace {

// renameat2 flags as Linux spells them (the JS side passes these on every host).
constexpr int kNoReplace = 1;
constexpr int kExchange = 2;
/** Most directory entries one readdir returns. */
constexpr int64_t kMaxEntries = 1 << 20;

/** Resolves at's parent, then runs f(parentFd, name), the one call (named `call`) that acts; f returns -1 with errno on failure. */
template <typename F>
bool AtParent(const Beneath& at, Outcome& out, const char* call, F f) {
  Fd parent = OpenBeneath(at.root, at.dir);
  if (!parent.ok()) return out.Fail("resolve");
  if (Retry([&] { return f(parent.get(), at.name.c_str()); }) < 0) return out.Fail(call);
  return true;
}

/** at opened without following it, for fstat/fstatfs-style calls (Linux O_PATH needs no permission on the file). */
int OpenNode(int parent, const char* name) {
#ifdef __linux__
  return openat(parent, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
#else
  return openat(parent, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
#endif
}

int64_t Nanos(const struct timespec& t) { return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec; }

Napi::Value StatToJs(Napi::Env env, const struct stat& st) {
  Napi::Object o = Napi::Object::New(env);
  auto u = [&](const char* k, uint64_t v) { o.Set(k, Napi::BigInt::New(env, v)); };
  auto s = [&](const char* k, int64_t v) { o.Set(k, Napi::BigInt::New(env, v)); };
  u("dev", static_cast<uint64_t>(st.st_dev));
  u("ino", static_cast<uint64_t>(st.st_ino));
  u("mode", static_cast<uint64_t>(st.st_mode));
  u("nlink", static_cast<uint64_t>(st.st_nlink));
  u("uid", static_cast<uint64_t>(st.st_uid));
  u("gid", static_cast<uint64_t>(st.st_gid));
  u("rdev", static_cast<uint64_t>(st.st_rdev));
  s("size", static_cast<int64_t>(st.st_size));
  s("blksize", static_cast<int64_t>(st.st_blksize));
  s("blocks", static_cast<int64_t>(st.st_blocks));
#ifdef __APPLE__
  s("atimeNs", Nanos(st.st_atimespec));
  s("mtimeNs", Nanos(st.st_mtimespec));
  s("ctimeNs", Nanos(st.st_ctimespec));
#else
  s("atimeNs", Nanos(st.st_atim));
  s("mtimeNs", Nanos(st.st_mtim));
  s("ctimeNs", Nanos(st.st_ctim));
#endif
  return o;
}

struct Void {
  Napi::Value Result(Napi::Env env) { return env.Undefined(); }
};

struct OpenRoot {
  std::string path;
  int fd = -1;
  void Run(Outcome& out) {
    fd = Retry([&] { return open(path.c_str(), DirOnlyFlags()); });
    if (fd < 0) out.Fail("open");
  }
  Napi::Value Result(Napi::Env env) { return Napi::Number::New(env, fd); }
};

struct Open {
  Beneath at;
  int flags = 0, mode = 0, fd = -1;
  void Run(Outcome& out) {
    AtParent(at, out, "openat", [&](int p, const char* n) { return fd = openat(p, n, flags | O_NOFOLLOW | O_CLOEXEC, mode); });
  }
  Napi::Value Result(Napi::Env env) { return Napi::Number::New(env, fd); }
};

struct Stat {
  Beneath at;
  struct stat st = {};
  void Run(Outcome& out) {
    AtParent(at, out, "fstatat", [&](int p, const char* n) { return fstatat(p, n, &st, AT_SYMLINK_NOFOLLOW); });
  }
  Napi::Value Result(Napi::Env env) { return StatToJs(env, st); }
};

struct Mkdir : Void {
  Beneath at;
  int mode = 0;
  void Run(Outcome& out) {
    AtParent(at, out, "mkdirat", [&](int p, const char* n) { return mkdirat(p, n, static_cast<mode_t>(mode)); });
  }
};

struct Mkfifo : Void {
  Beneath at;
  int mode = 0;
  void Run(Outcome& out) {
    AtParent(at, out, "mkfifoat", [&](int p, const char* n) {
#ifdef __linux__
      return mknodat(p, n, S_IFIFO | static_cast<mode_t>(mode), 0);
#else
      if (__builtin_available(macOS 13.0, *)) return mkfifoat(p, n, static_cast<mode_t>(mode));
      errno = ENOTSUP;
      return -1;
#endif
    });
  }
};

struct Symlink : Void {
  std::string target;
  Beneath at;
  void Run(Outcome& out) {
    AtParent(at, out, "symlinkat", [&](int p, const char* n) { return symlinkat(target.c_str(), p, n); });
  }
};

struct Readlink {
  Beneath at;
  std::vector<char> buf;
  ssize_t got = 0;
  void Run(Outcome& out) {
    AtParent(at, out, "readlinkat", [&](int p, const char* n) -> ssize_t {
      for (size_t size = 4096; size <= kMaxBuffer; size *= 2) {
        buf.assign(size, 0);
        got = readlinkat(p, n, buf.data(), size);
        if (got < 0 || static_cast<size_t>(got) < size) return got;
      }
      errno = ENAMETOOLONG;
      return -1;
    });
  }
  Napi::Value Result(Napi::Env env) { return Napi::Buffer<char>::Copy(env, buf.data(), static_cast<size_t>(got)); }
};

/** Two names beneath one root (link, rename): both parents resolved, then f(p1, n1, p2, n2). */
template <typename F>
bool AtParents(const Beneath& a, const Beneath& b, Outcome& out, const char* call, F f) {
  Fd pa = OpenBeneath(a.root, a.dir);
  if (!pa.ok()) return out.Fail("resolve");
  Fd pb = OpenBeneath(b.root, b.dir);
  if (!pb.ok()) return out.Fail("resolve");
  if (Retry([&] { return f(pa.get(), a.name.c_str(), pb.get(), b.name.c_str()); }) < 0) return out.Fail(call);
  return true;
}

struct Link : Void {
  Beneath from, to;
  void Run(Outcome& out) {
    // No AT_SYMLINK_FOLLOW: a symlink is linked itself, never its target.
    AtParents(from, to, out, "linkat", [](int p1, const char* n1, int p2, const char* n2) { return linkat(p1, n1, p2, n2, 0); });
  }
};

struct Unlink : Void {
  Beneath at;
  bool dir = false;
  void Run(Outcome& out) {
    AtParent(at, out, "unlinkat", [&](int p, const char* n) { return unlinkat(p, n, dir ? AT_REMOVEDIR : 0); });
  }
};

int RenameFlags(int p1, const char* n1, int p2, const char* n2, int flags) {
  if (flags == 0) return renameat(p1, n1, p2, n2);
#ifdef __linux__
  const long r = syscall(SYS_renameat2, p1, n1, p2, n2, static_cast<unsigned>(flags));
#else
  const int r = renameatx_np(p1, n1, p2, n2, (flags & kNoReplace ? RENAME_EXCL : 0) | (flags & kExchange ? RENAME_SWAP : 0));
#endif
  if (r == 0 || flags != kNoReplace || (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)) return static_cast<int>(r);
  // A filesystem without the flag: check, then rename. Both names stay confined; only the check can go stale.
  struct stat st;
  if (fstatat(p2, n2, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    errno = EEXIST;
    return -1;
  }
  if (errno != ENOENT) return -1;
  return renameat(p1, n1, p2, n2);
}

struct Rename : Void {
  Beneath from, to;
  int flags = 0;
  void Run(Outcome& out) {
    AtParents(from, to, out, "renameat", [&](int p1, const char* n1, int p2, const char* n2) { return RenameFlags(p1, n1, p2, n2, flags); });
  }
};

struct Chown : Void {
  Beneath at;
  int64_t uid = -1, gid = -1;
  void Run(Outcome& out) {
    AtParent(at, out, "fchownat", [&](int p, const char* n) {
      return fchownat(p, n, static_cast<uid_t>(uid), static_cast<gid_t>(gid), AT_SYMLINK_NOFOLLOW);
    });
  }
};

struct Utimens : Void {
  Beneath at;
  struct timespec times[2] = {};
  void Run(Outcome& out) {
    AtParent(at, out, "utimensat", [&](int p, const char* n) { return utimensat(p, n, times, AT_SYMLINK_NOFOLLOW); });
  }
};

struct Access : Void {
  Beneath at;
  int mode = 0;
  void Run(Outcome& out) {
    AtParent(at, out, "faccessat", [&](int p, const char* n) { return faccessat(p, n, mode, AT_SYMLINK_NOFOLLOW); });
  }
};

struct Statfs {
  Beneath at;
  struct statfs st = {};
  void Run(Outcome& out) {
    AtParent(at, out, "fstatfs", [&](int p, const char* n) {
      if (at.name == ".") return fstatfs(p, &st);
      Fd node(OpenNode(p, n), true);
      return node.ok() ? fstatfs(node.get(), &st) : -1;
    });
  }
  Napi::Value Result(Napi::Env env) {
    Napi::Object o = Napi::Object::New(env);
    auto n = [&](const char* k, double v) { o.Set(k, Napi::Number::New(env, v)); };
    n("bsize", static_cast<double>(st.f_bsize));
    n("blocks", static_cast<double>(st.f_blocks));
    n("bfree", static_cast<double>(st.f_bfree));
    n("bavail", static_cast<double>(st.f_bavail));
    n("files", static_cast<double>(st.f_files));
    n("ffree", static_cast<double>(st.f_ffree));
    return o;
  }
};

struct Readdir {
  Beneath at;
  int64_t max = 0;
  std::vector<std::pair<std::string, int>> entries;
  void Run(Outcome& out) {
    AtParent(at, out, "readdir", [&](int p, const char* n) {
      const int fd = openat(p, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) return -1;
      DIR* d = fdopendir(fd);
      if (!d) {
        const int e = errno;
        close(fd);
        errno = e;
        return -1;
      }
      entries.clear();
      int rc = 0;
      while (static_cast<int64_t>(entries.size()) < max) {
        errno = 0;
        const struct dirent* e = readdir(d);
        if (!e) {
          rc = errno ? -1 : 0;
          break;
        }
        if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
        int type = e->d_type;
        struct stat st;
        if (type == DT_UNKNOWN && fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) type = IFTODT(st.st_mode);
        entries.emplace_back(e->d_name, type);
      }
      const int e = errno;
      closedir(d);
      errno = e;
      if (rc < 0 && errno == EINTR) errno = EIO;  // not restartable midway: never retried by AtParent
      return rc;
    });
  }
  Napi::Value Result(Napi::Env env) {
    Napi::Array a = Napi::Array::New(env, entries.size());
    for (size_t i = 0; i < entries.size(); i++) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", Napi::String::New(env, entries[i].first));
      o.Set("type", Napi::Number::New(env, entries[i].second));
      a.Set(static_cast<uint32_t>(i), o);
    }
    return a;
  }
};

// ---- argument reading ----

/** A time for utimens: a BigInt of nanoseconds since the epoch, 'now', or null (leave it). */
bool ReadTime(const Napi::Value& v, struct timespec* t) {
  if (v.IsNull() || v.IsUndefined()) {
    t->tv_sec = 0;
    t->tv_nsec = UTIME_OMIT;
    return true;
  }
  if (v.IsString()) {
    if (v.As<Napi::String>().Utf8Value() != "now") return false;
    t->tv_sec = 0;
    t->tv_nsec = UTIME_NOW;
    return true;
  }
  if (!v.IsBigInt()) return false;
  bool lossless = false;
  const int64_t ns = v.As<Napi::BigInt>().Int64Value(&lossless);
  if (!lossless) return false;
  int64_t sec = ns / 1000000000, rem = ns % 1000000000;
  if (rem < 0) {
    rem += 1000000000;
    sec -= 1;
  }
  t->tv_sec = static_cast<time_t>(sec);
  t->tv_nsec = static_cast<long>(rem);
  return true;
}

bool ReadMode(const Napi::Value& v, int* out) {
  int64_t m;
  if (!ReadInt(v, 0, 07777, &m)) return false;
  *out = static_cast<int>(m);
  return true;
}

// Names a call's shape in its TypeError; `at` is { root: fd, dir: '' | 'a/b', name: one component }.
#define AT_HELP "at: { root: fd, dir: relative, name: one component }"

Napi::Value OpenRootFn(const Napi::CallbackInfo& info) {
  OpenRoot op;
  if (info.Length() < 1 || !ReadString(info[0], &op.path)) return ThrowType(info.Env(), "openRoot(path: string)");
  return Job<OpenRoot>::Start(info.Env(), std::move(op));
}

Napi::Value OpenFn(const Napi::CallbackInfo& info) {
  Open op;
  int64_t flags;
  if (info.Length() < 3 || !ReadBeneath(info[0], true, &op.at) || !ReadInt(info[1], 0, INT32_MAX, &flags) || !ReadMode(info[2], &op.mode))
    return ThrowType(info.Env(), "open(" AT_HELP ", flags, mode)");
  op.flags = static_cast<int>(flags);
  return Job<Open>::Start(info.Env(), std::move(op));
}

Napi::Value StatFn(const Napi::CallbackInfo& info) {
  Stat op;
  if (info.Length() < 1 || !ReadBeneath(info[0], true, &op.at)) return ThrowType(info.Env(), "stat(" AT_HELP ")");
  return Job<Stat>::Start(info.Env(), std::move(op));
}

Napi::Value MkdirFn(const Napi::CallbackInfo& info) {
  Mkdir op;
  if (info.Length() < 2 || !ReadBeneath(info[0], false, &op.at) || !ReadMode(info[1], &op.mode)) return ThrowType(info.Env(), "mkdir(" AT_HELP ", mode)");
  return Job<Mkdir>::Start(info.Env(), std::move(op));
}

Napi::Value MkfifoFn(const Napi::CallbackInfo& info) {
  Mkfifo op;
  if (info.Length() < 2 || !ReadBeneath(info[0], false, &op.at) || !ReadMode(info[1], &op.mode)) return ThrowType(info.Env(), "mkfifo(" AT_HELP ", mode)");
  return Job<Mkfifo>::Start(info.Env(), std::move(op));
}

Napi::Value SymlinkFn(const Napi::CallbackInfo& info) {
  Symlink op;
  if (info.Length() < 2 || !ReadString(info[0], &op.target) || op.target.size() >= PATH_MAX || !ReadBeneath(info[1], false, &op.at))
    return ThrowType(info.Env(), "symlink(target: string, " AT_HELP ")");
  return Job<Symlink>::Start(info.Env(), std::move(op));
}

Napi::Value ReadlinkFn(const Napi::CallbackInfo& info) {
  Readlink op;
  if (info.Length() < 1 || !ReadBeneath(info[0], false, &op.at)) return ThrowType(info.Env(), "readlink(" AT_HELP ")");
  return Job<Readlink>::Start(info.Env(), std::move(op));
}

Napi::Value LinkFn(const Napi::CallbackInfo& info) {
  Link op;
  if (info.Length() < 2 || !ReadBeneath(info[0], false, &op.from) || !ReadBeneath(info[1], false, &op.to) || op.from.root != op.to.root)
    return ThrowType(info.Env(), "link(from: at, to: at) under one root");
  return Job<Link>::Start(info.Env(), std::move(op));
}

Napi::Value UnlinkFn(const Napi::CallbackInfo& info) {
  Unlink op;
  if (info.Length() < 2 || !ReadBeneath(info[0], false, &op.at) || !info[1].IsBoolean()) return ThrowType(info.Env(), "unlink(" AT_HELP ", directory: boolean)");
  op.dir = info[1].As<Napi::Boolean>().Value();
  return Job<Unlink>::Start(info.Env(), std::move(op));
}

Napi::Value RenameFn(const Napi::CallbackInfo& info) {
  Rename op;
  int64_t flags;
  if (info.Length() < 3 || !ReadBeneath(info[0], false, &op.from) || !ReadBeneath(info[1], false, &op.to) || op.from.root != op.to.root ||
      !ReadInt(info[2], 0, kExchange, &flags) || flags == (kNoReplace | kExchange))
    return ThrowType(info.Env(), "rename(from: at, to: at, flags: 0 | 1 noreplace | 2 exchange) under one root");
  op.flags = static_cast<int>(flags);
  return Job<Rename>::Start(info.Env(), std::move(op));
}

Napi::Value ChownFn(const Napi::CallbackInfo& info) {
  Chown op;
  if (info.Length() < 3 || !ReadBeneath(info[0], true, &op.at) || !ReadInt(info[1], -1, UINT32_MAX - 1, &op.uid) || !ReadInt(info[2], -1, UINT32_MAX - 1, &op.gid))
    return ThrowType(info.Env(), "chown(" AT_HELP ", uid | -1, gid | -1)");
  return Job<Chown>::Start(info.Env(), std::move(op));
}

Napi::Value UtimensFn(const Napi::CallbackInfo& info) {
  Utimens op;
  if (info.Length() < 3 || !ReadBeneath(info[0], true, &op.at) || !ReadTime(info[1], &op.times[0]) || !ReadTime(info[2], &op.times[1]))
    return ThrowType(info.Env(), "utimens(" AT_HELP ", atime, mtime): each a BigInt of ns, 'now' or null");
  return Job<Utimens>::Start(info.Env(), std::move(op));
}

Napi::Value AccessFn(const Napi::CallbackInfo& info) {
  Access op;
  int64_t mode;
  if (info.Length() < 2 || !ReadBeneath(info[0], true, &op.at) || !ReadInt(info[1], 0, 7, &mode)) return ThrowType(info.Env(), "access(" AT_HELP ", mode: 0..7)");
  op.mode = static_cast<int>(mode);
  return Job<Access>::Start(info.Env(), std::move(op));
}

Napi::Value StatfsFn(const Napi::CallbackInfo& info) {
  Statfs op;
  if (info.Length() < 1 || !ReadBeneath(info[0], true, &op.at)) return ThrowType(info.Env(), "statfs(" AT_HELP ")");
  return Job<Statfs>::Start(info.Env(), std::move(op));
}

Napi::Value ReaddirFn(const Napi::CallbackInfo& info) {
  Readdir op;
  if (info.Length() < 2 || !ReadBeneath(info[0], true, &op.at) || !ReadInt(info[1], 0, kMaxEntries, &op.max))
    return ThrowType(info.Env(), "readdir(" AT_HELP ", max entries)");
  return Job<Readdir>::Start(info.Env(), std::move(op));
}

Napi::Value ResolverFn(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), ResolverName()); }

Napi::Value ForceWalkFn(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsBoolean()) return ThrowType(info.Env(), "forceWalk(on: boolean)");
  ForceWalk(info[0].As<Napi::Boolean>().Value());
  return info.Env().Undefined();
}

}  // namespace

void RegisterAtOps(Napi::Env env, Napi::Object exports) {
  const std::pair<const char*, Napi::Function::Callback> fns[] = {
      {"openRoot", OpenRootFn}, {"open", OpenFn}, {"stat", StatFn}, {"mkdir", MkdirFn}, {"mkfifo", MkfifoFn},
      {"symlink", SymlinkFn}, {"readlink", ReadlinkFn}, {"link", LinkFn}, {"unlink", UnlinkFn}, {"rename", RenameFn},
      {"chown", ChownFn}, {"utimens", UtimensFn}, {"access", AccessFn}, {"statfs", StatfsFn}, {"readdir", ReaddirFn},
      {"resolver", ResolverFn}, {"forceWalk", ForceWalkFn},
  };
  for (const auto& [name, fn] : fns) exports.Set(name, Napi::Function::New(env, fn, name));
}

}  // namespace hostfs
