// The oracle behind tests/golden/re2_global_replace.json: real RE2::GlobalReplace
// as Envoy calls it (RE2(pattern, RE2::Quiet), Regex::Utility replaceAll), on
// hex-encoded lines "pattern rewrite text" ("-" for empty); prints hex or "ERR".
// Build: g++ -O1 -std=c++17 re2_oracle.cc -o re2_oracle -lre2 (Debian: libre2-dev).
#include <re2/re2.h>
#include <iostream>
#include <string>

static std::string unhex(const std::string& h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

static std::string hex(const std::string& s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) { out.push_back(d[c >> 4]); out.push_back(d[c & 15]); }
  return out;
}

int main() {
  std::string p, r, t;
  while (std::cin >> p >> r >> t) {
    if (p == "-") p = ""; if (r == "-") r = ""; if (t == "-") t = "";
    RE2 re(unhex(p), RE2::Quiet);
    if (!re.ok()) { std::cout << "ERR\n"; continue; }
    std::string s = unhex(t);
    RE2::GlobalReplace(&s, re, unhex(r));
    std::cout << (s.empty() ? "-" : hex(s)) << "\n";
  }
}
