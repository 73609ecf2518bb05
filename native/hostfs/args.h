// Reading call arguments out of JS before a Job is queued (Run never touches JS values).
// Each reader returns false when the value has the wrong shape; the caller throws a TypeError.
#pragma once
#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "beneath.h"

namespace hostfs {

/** No value or list is read into memory beyond this (XATTR_SIZE_MAX, 64 KiB, is Linux's own cap). */
constexpr size_t kMaxBuffer = 1 << 16;

/** A non-negative int fd. */
bool ReadFd(const Napi::Value& v, int* out);
/** A non-empty string without NUL (UTF-8). */
bool ReadString(const Napi::Value& v, std::string* out);
/** An integer in [lo, hi]. */
bool ReadInt(const Napi::Value& v, int64_t lo, int64_t hi, int64_t* out);
/** { root: fd, dir: '' | 'a/b', name: one component } — nothing absolute, no "..", name "." only when allowDot. */
bool ReadBeneath(const Napi::Value& v, bool allowDot, Beneath* out);
/** A Buffer of 1+ bytes without NUL (an xattr name); the terminator is added here. */
bool ReadName(const Napi::Value& v, std::string* out);
/** 0..kMaxBuffer. */
bool ReadSize(const Napi::Value& v, size_t* out);

}  // namespace hostfs
