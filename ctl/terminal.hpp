// The binary's edges with the local machine: whether to colour, where the
// configuration lives, files, and the operator's editor.
#pragma once

#include <string>

#include "common/result.hpp"

namespace c4i::ctl {

// Exit codes (issue 11): 0 ok, 1 the server refused, 2 usage or a local file,
// 3 the server cannot be reached. An Error's code says which: "refused",
// "unreachable", anything else is 2.
enum ExitCode { kExitOk = 0, kExitRefused = 1, kExitUsage = 2, kExitUnreachable = 3 };
int exit_code_of(const Error& e);

// Colours only on a terminal, and never when NO_COLOR is set (no-color.org).
bool colour_enabled(int fd);

// $C4I_CONFIG, else $XDG_CONFIG_HOME/c4i/config.yaml, else ~/.config/c4i/config.yaml.
std::string default_config_path();

// Error code "local_file", the message names the file.
Result<std::string> read_text_file(const std::string& path);
// Writes atomically (temporary file + rename), creating parent directories;
// mode 0600 when `private_file` (the configuration may hold tokens).
Status write_text_file(const std::string& path, const std::string& text, bool private_file);

// Runs the operator's editor on `file` ($C4I_EDITOR, $VISUAL, $EDITOR, else
// vi) through /bin/sh so the variable may carry arguments; the editor gets
// this process's terminal. Returns its exit status.
Result<int> run_editor(const std::string& file);

// Prints "error: MESSAGE" on stderr (red on a terminal) and returns the exit code.
int report(const Error& e);

}  // namespace c4i::ctl
