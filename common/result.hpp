// Result<T>: the value of an operation that can fail in an expected way.
// Errors carry a stable code (machine-readable) and a message (for a human).
#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace c4i {

struct Error {
  std::string code;     // stable, e.g. "invalid_argument", "not_found"
  std::string message;  // one line naming what is wrong
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}      // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return checked(); }
  const T& value() const& { return const_cast<Result*>(this)->checked(); }
  T&& value() && { return std::move(checked()); }
  T* operator->() { return &checked(); }
  const T* operator->() const { return &const_cast<Result*>(this)->checked(); }
  T& operator*() { return checked(); }
  const T& operator*() const { return const_cast<Result*>(this)->checked(); }
  const Error& error() const {
    if (ok()) throw std::logic_error("Result::error() on a value");
    return std::get<1>(v_);
  }

 private:
  T& checked() {
    if (!ok()) throw std::logic_error("Result::value() on an error: " + std::get<1>(v_).message);
    return std::get<0>(v_);
  }
  std::variant<T, Error> v_;
};

// Result<void>
struct Ok {};
using Status = Result<Ok>;
inline Status ok_status() { return Ok{}; }

}  // namespace c4i
