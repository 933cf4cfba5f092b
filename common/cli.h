// Shared command-line plumbing for the three executables (tessera,
// tessera-agent, tessera-coordinator): CLI11 setup, the one place where
// CLI11's exceptions become exit codes, and the exit-code convention.
//
// Exit codes (also printed at the end of every --help):
//   0  success
//   1  the command failed (the message says why)
//   2  usage error: unknown command or option, bad or missing value
//   3  the coordinator could not be reached (retry later)
//   4  not allowed: missing, invalid or revoked certificate, or wrong role
//
// Thread-safety: use from main only.
#pragma once

#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tessera/version.h"

namespace tessera {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitUnavailable = 3;
inline constexpr int kExitNotAllowed = 4;

inline constexpr char kExitCodeHelp[] =
    "\nExit codes: 0 success; 1 the command failed; 2 usage error; 3 coordinator "
    "unreachable (retry later); 4 not allowed (certificate or role).";

// The exit code for a failed command's status.
inline int ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk: return kExitOk;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded: return kExitUnavailable;
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied: return kExitNotAllowed;
    default: return kExitFailure;
  }
}

// Sets the options every executable shares: --version, the exit-code
// footer, and a required subcommand.
inline void ConfigureApp(CLI::App& app) {
  app.set_version_flag("--version", std::string(kVersion));
  app.footer(kExitCodeHelp);
  // Subcommands are checked after parsing (see RunApp) so that an unknown
  // word is reported as an unknown command, not as a missing one.
  app.require_subcommand(0, 1);
  app.fallthrough();
}

// Adds a command group (a subcommand that only holds subcommands).
inline CLI::App* AddCommandGroup(CLI::App& parent, const std::string& name,
                                 const std::string& description) {
  CLI::App* group = parent.add_subcommand(name, description);
  group->require_subcommand(0, 1);
  return group;
}

// Runs a subcommand action and remembers its status, so that actions can
// return absl::Status instead of exiting.
class CommandResult {
 public:
  // Wraps `action` for CLI11's callback().
  std::function<void()> Bind(std::function<absl::Status()> action) {
    return [this, action = std::move(action)]() { status_ = action(); };
  }
  const absl::Status& status() const { return status_; }

 private:
  absl::Status status_;
};

// Parses argv with `app` and runs the chosen subcommand. Usage errors are
// printed with a pointer to --help; a failed action prints
// "<program>: error: <message>". Returns the process exit code.
inline int RunApp(CLI::App& app, const CommandResult& result, int argc, char** argv) {
  const std::string program = app.get_name();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    std::cout << program << " " << kVersion << "\n";
    return kExitOk;
  } catch (const CLI::ExtrasError& e) {
    std::cerr << program << ": " << e.what() << "\n"
              << "Unknown command or argument; run `" << program
              << " --help` to see the commands.\n";
    return kExitUsage;
  } catch (const CLI::RequiredError& e) {
    std::cerr << program << ": " << e.what() << "\n"
              << "Run `" << program << " --help` for usage.\n";
    return kExitUsage;
  } catch (const CLI::ParseError& e) {
    std::cerr << program << ": " << e.what() << "\n"
              << "Run `" << program << " --help` for usage.\n";
    return kExitUsage;
  }
  // Descend to the command that was chosen; if it is a group, one of its
  // commands was needed.
  CLI::App* chosen = &app;
  std::string path = program;
  while (!chosen->get_subcommands().empty()) {
    chosen = chosen->get_subcommands().front();
    path += " " + chosen->get_name();
  }
  std::vector<CLI::App*> choices = chosen->get_subcommands([](CLI::App*) { return true; });
  if (!choices.empty()) {
    std::string names;
    for (const CLI::App* choice : choices) names += (names.empty() ? "" : ", ") + choice->get_name();
    std::cerr << path << ": choose a command: " << names << "\n"
              << "Run `" << path << " --help` for usage.\n";
    return kExitUsage;
  }
  if (!result.status().ok()) {
    std::cerr << program << ": error: " << result.status().message() << "\n";
    return ExitCodeFor(result.status());
  }
  return kExitOk;
}

}  // namespace tessera
