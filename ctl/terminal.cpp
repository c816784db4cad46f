#include "ctl/terminal.hpp"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "ctl/render.hpp"

namespace c4i::ctl {

namespace fs = std::filesystem;

int exit_code_of(const Error& e) {
  if (e.code == "refused") return kExitRefused;
  if (e.code == "unreachable") return kExitUnreachable;
  return kExitUsage;
}

bool colour_enabled(int fd) {
  const char* no = std::getenv("NO_COLOR");
  if (no && *no) return false;
  return isatty(fd) == 1;
}

std::string default_config_path() {
  if (const char* c = std::getenv("C4I_CONFIG"); c && *c) return c;
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) return std::string(x) + "/c4i/config.yaml";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.config/c4i/config.yaml";
}

Result<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{"local_file", path + ": cannot read: " + std::strerror(errno)};
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Error{"local_file", path + ": read failed"};
  return ss.str();
}

Status write_text_file(const std::string& path, const std::string& text, bool private_file) {
  std::error_code ec;
  fs::path p(path);
  if (p.has_parent_path()) {
    fs::create_directories(p.parent_path(), ec);
    if (ec) return Error{"local_file", p.parent_path().string() + ": cannot create: " + ec.message()};
  }
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Error{"local_file", tmp + ": cannot write: " + std::strerror(errno)};
    if (private_file) chmod(tmp.c_str(), 0600);
    out << text;
    out.flush();
    if (!out) return Error{"local_file", tmp + ": write failed"};
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return Error{"local_file", path + ": cannot replace: " + ec.message()};
  }
  return ok_status();
}

Result<int> run_editor(const std::string& file) {
  std::string editor;
  for (const char* var : {"C4I_EDITOR", "VISUAL", "EDITOR"})
    if (const char* v = std::getenv(var); v && *v) {
      editor = v;
      break;
    }
  if (editor.empty()) editor = "vi";
  pid_t pid = fork();
  if (pid < 0) return Error{"local_file", std::string("cannot start the editor: fork: ") + std::strerror(errno)};
  if (pid == 0) {
    // "$EDITOR" "$1": the variable may hold arguments (e.g. "code --wait").
    execl("/bin/sh", "sh", "-c", (editor + " \"$1\"").c_str(), "sh", file.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR) return Error{"local_file", std::string("waiting for the editor: ") + std::strerror(errno)};
  }
  if (WIFEXITED(st)) {
    if (WEXITSTATUS(st) == 127) return Error{"local_file", "cannot run the editor \"" + editor + "\" (set $EDITOR)"};
    return WEXITSTATUS(st);
  }
  return 128 + WTERMSIG(st);
}

int report(const Error& e) {
  std::cerr << paint("error:", Colour::red, colour_enabled(2)) << " " << e.message << "\n";
  return exit_code_of(e);
}

}  // namespace c4i::ctl
