// Golden files for c4ictl's output (tests/ctl/golden/README.md): compared
// byte for byte; C4I_UPDATE_GOLDEN=1 rewrites them instead.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "tests/support/testlib.hpp"

namespace c4i::ctl::testing {

inline std::string golden_path(const std::string& name) {
  return c4i::testing::source_dir() + "/tests/ctl/golden/" + name;
}

inline void expect_golden(const std::string& name, const std::string& actual) {
  std::string path = golden_path(name);
  if (const char* u = std::getenv("C4I_UPDATE_GOLDEN"); u && *u) {
    c4i::testing::write_file(path, actual);
    return;
  }
  ASSERT_TRUE(std::filesystem::exists(path)) << "no golden file " << path << " (C4I_UPDATE_GOLDEN=1 creates it)";
  EXPECT_EQ(c4i::testing::read_file(path), actual) << "output differs from " << path
                                                   << " (if the change is deliberate: C4I_UPDATE_GOLDEN=1 regenerates)";
}

}  // namespace c4i::ctl::testing
