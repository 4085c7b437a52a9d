// toml_text.h — TOML text parsed with every error a UsageError at file:line:col.
//
// toml++ 3.3 asserts (debug builds) or has undefined behaviour (release builds) on a few
// malformed inputs that fuzz/fuzz_config found; check_toml_text refuses them first. Every
// TOML the tools read (configuration files, presets, sweep files) goes through
// parse_toml_checked, so none of them reaches toml++ unchecked.
#pragma once

#include <string>

#include <toml++/toml.h>

namespace contra::train {

// Throws UsageError(source_name:line:col, "malformed TOML: …") for text toml++ must not see.
void check_toml_text(const std::string& text, const std::string& source_name);
// check_toml_text, then toml::parse; a toml++ parse error becomes a UsageError at its position.
toml::table parse_toml_checked(const std::string& text, const std::string& source_name);

}  // namespace contra::train
