// replay_main.cpp: a main for a libFuzzer target without libFuzzer (the
// idea of libFuzzer's StandaloneFuzzTargetMain.c): it runs
// LLVMFuzzerTestOneInput once over each file named, and over each file in
// each directory named, so that every build (g++, the sanitizers) checks
// the target's promises over the committed corpus. Exits 1 if a path
// cannot be read or holds no file; a broken promise aborts.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  int files = 0;
  for (int i = 1; i < argc; i++) {
    std::vector<fs::path> paths;
    if (fs::is_directory(argv[i])) {
      for (const auto& e : fs::directory_iterator(argv[i]))
        if (e.is_regular_file()) paths.push_back(e.path());
    } else {
      paths.push_back(argv[i]);
    }
    for (const auto& p : paths) {
      std::ifstream f(p, std::ios::binary);
      if (!f) {
        std::fprintf(stderr, "replay: cannot read %s\n", p.c_str());
        return 1;
      }
      std::vector<char> b((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(b.data()), b.size());
      files++;
    }
  }
  std::printf("replay: %d inputs, every promise kept\n", files);
  return files > 0 ? 0 : 1;
}
