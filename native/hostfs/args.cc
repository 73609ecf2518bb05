#include "args.h"

#include <climits>

namespace hostfs {

bool ReadInt(const Napi::Value& v, int64_t lo, int64_t hi, int64_t* out) {
  if (!v.IsNumber()) return false;
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= static_cast<double>(lo) && d <= static_cast<double>(hi)) || d != static_cast<double>(static_cast<int64_t>(d))) return false;
  *out = static_cast<int64_t>(d);
  return true;
}

bool ReadFd(const Napi::Value& v, int* out) {
  int64_t n;
  if (!ReadInt(v, 0, INT32_MAX, &n)) return false;
  *out = static_cast<int>(n);
  return true;
}

bool ReadString(const Napi::Value& v, std::string* out) {
  if (!v.IsString()) return false;
  *out = v.As<Napi::String>().Utf8Value();
  return !out->empty() && out->find('\0') == std::string::npos;
}

bool ReadBeneath(const Napi::Value& v, bool allowDot, Beneath* out) {
  if (!v.IsObject() || v.IsArray() || v.IsBuffer()) return false;
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value dir = o.Get("dir");
  if (!ReadFd(o.Get("root"), &out->root) || !dir.IsString() || !ReadString(o.Get("name"), &out->name)) return false;
  out->dir = dir.As<Napi::String>().Utf8Value();
  return ValidDir(out->dir) && ValidComponent(out->name, allowDot);
}

bool ReadName(const Napi::Value& v, std::string* out) {
  if (!v.IsBuffer()) return false;
  auto b = v.As<Napi::Buffer<char>>();
  out->assign(b.Data(), b.Length());
  return !out->empty() && out->find('\0') == std::string::npos;
}

bool ReadSize(const Napi::Value& v, size_t* out) {
  int64_t n;
  if (!ReadInt(v, 0, static_cast<int64_t>(kMaxBuffer), &n)) return false;
  *out = static_cast<size_t>(n);
  return true;
}

}  // namespace hostfs
