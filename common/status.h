// Status helpers used across Tessera.
//
// Every Tessera API returns absl::Status or absl::StatusOr<T>; these macros
// keep the early-return plumbing short. Codes are chosen by what the caller
// should do: UNAVAILABLE (retry), FAILED_PRECONDITION (fix state first),
// INVALID_ARGUMENT (never retry), and so on.
//
// Thread-safety: everything here is stateless.
#pragma once

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#define TESSERA_STATUS_CONCAT_INNER(a, b) a##b
#define TESSERA_STATUS_CONCAT(a, b) TESSERA_STATUS_CONCAT_INNER(a, b)

// Evaluates `expr` (an absl::Status) and returns it from the enclosing
// function if it is not OK.
#define TESSERA_RETURN_IF_ERROR(expr)                           \
  do {                                                          \
    ::absl::Status tessera_status_macro_value = (expr);         \
    if (!tessera_status_macro_value.ok()) {                     \
      return tessera_status_macro_value;                        \
    }                                                           \
  } while (false)

// Evaluates `rexpr` (an absl::StatusOr<T>); on error returns its status from
// the enclosing function, otherwise moves the value into `lhs`, which may be
// a declaration (`auto x`) or an existing variable.
#define TESSERA_ASSIGN_OR_RETURN(lhs, rexpr)                                   \
  TESSERA_ASSIGN_OR_RETURN_IMPL(                                               \
      TESSERA_STATUS_CONCAT(tessera_statusor_macro_value_, __LINE__), lhs, rexpr)

#define TESSERA_ASSIGN_OR_RETURN_IMPL(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                  \
  if (!statusor.ok()) {                                     \
    return std::move(statusor).status();                    \
  }                                                         \
  lhs = std::move(statusor).value()

namespace tessera {

// Returns `status` with `context` prepended to its message ("context: message"),
// keeping its code and payloads. OK stays OK.
absl::Status Annotate(const absl::Status& status, absl::string_view context);

// The canonical name of a status code in lower case with spaces, for messages
// meant for people ("invalid argument", "unavailable").
std::string StatusCodeName(absl::StatusCode code);

}  // namespace tessera
