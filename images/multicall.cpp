// The images' one binary: the function and the BLE reader (c4i-reader) linked
// into one static executable, so that glibc, libstdc++, OpenSSL, Asio and the
// JSON and log code are in the image once instead of twice. It runs the reader
// when started as `c4i-reader` (the image's /usr/bin/c4i-reader is a symlink
// to the function's binary) and the function under any other name. Both
// entry points are the programs' own main()s, compiled under other names
// (images/CMakeLists.txt), so their command lines are exactly those of the
// standalone c4i-fn-* and c4i-reader programs.
#include <string_view>

int c4i_function_main(int argc, char** argv);
int c4i_reader_main(int argc, char** argv);

int main(int argc, char** argv) {
  std::string_view name = argc > 0 && argv[0] != nullptr ? argv[0] : "";
  if (const auto slash = name.rfind('/'); slash != std::string_view::npos) name.remove_prefix(slash + 1);
  if (name == "c4i-reader") return c4i_reader_main(argc, argv);
  return c4i_function_main(argc, argv);
}
