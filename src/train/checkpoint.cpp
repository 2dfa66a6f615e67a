#include "imp/train/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "imp/core/error.h"
#include "imp/core/fault.h"
#include "imp/core/fs.h"
#include "imp/core/sha256.h"

namespace imp::train {
namespace {

namespace fsys = std::filesystem;

std::string final_name(int64_t step) { return "checkpoint-" + std::to_string(step); }
std::string partial_name(int64_t step) { return ".checkpoint-" + std::to_string(step) + ".partial"; }

void fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  IMP_CHECK_KIND(fd >= 0, ErrorKind::io, dir, ": cannot open the folder to sync it");
  const int rc = ::fsync(fd);
  ::close(fd);
  IMP_CHECK_KIND(rc == 0, ErrorKind::io, dir, ": fsync failed");
}

std::optional<int64_t> step_of(const std::string& name) {
  const std::string prefix = "checkpoint-";
  if (name.rfind(prefix, 0) != 0 || name.size() == prefix.size()) return std::nullopt;
  const std::string digits = name.substr(prefix.size());
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  return std::stoll(digits);
}

void remove_tree(const fsys::path& p) {
  std::error_code ec;
  fsys::remove_all(p, ec);
  IMP_CHECK_KIND(!ec, ErrorKind::io, p.string(), ": cannot remove: ", ec.message());
}

}  // namespace

std::vector<CheckpointRef> committed_checkpoints(const std::string& output_dir) {
  std::vector<CheckpointRef> out;
  std::error_code ec;
  if (!fsys::is_directory(output_dir, ec)) return out;
  for (const auto& e : fsys::directory_iterator(output_dir, ec)) {
    if (!e.is_directory()) continue;
    const auto step = step_of(e.path().filename().string());
    if (!step || !fsys::exists(e.path() / kCommitMarker)) continue;
    out.push_back({e.path().string(), *step});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.step < b.step; });
  return out;
}

std::string begin_checkpoint(const std::string& output_dir, int64_t step) {
  const fsys::path dir = fsys::path(output_dir) / partial_name(step);
  const fsys::path final_dir = fsys::path(output_dir) / final_name(step);
  IMP_CHECK_KIND(!fsys::exists(final_dir) || fsys::exists(final_dir / kCommitMarker), ErrorKind::io, final_dir.string(),
                 " exists but was not written by imp (no ", kCommitMarker, " marker); imp will not overwrite it",
                 "\nhint: move it away or choose another --output_dir");
  if (fsys::exists(dir)) remove_tree(dir);
  std::error_code ec;
  fsys::create_directories(dir, ec);
  IMP_CHECK_KIND(!ec, ErrorKind::io, dir.string(), ": cannot create the checkpoint folder: ", ec.message());
  return dir.string();
}

std::string commit_checkpoint(const std::string& output_dir, int64_t step) {
  const fsys::path partial = fsys::path(output_dir) / partial_name(step);
  const fsys::path final_dir = fsys::path(output_dir) / final_name(step);
  Json files = Json::object();
  std::vector<std::string> names;
  for (const auto& e : fsys::directory_iterator(partial))
    if (e.is_regular_file()) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    uint64_t size = 0;
    const std::string hash = sha256_file((partial / n).string(), &size);
    files[n] = Json{{"size", size}, {"sha256", hash}};
  }
  write_json_file((partial / kManifest).string(), Json{{"step", step}, {"files", files}});
  fsync_dir(partial.string());
  if (fsys::exists(final_dir)) {
    // A committed checkpoint of the same step (a fresh run into an old output_dir): replaced, with the
    // new one complete before the old one goes.
    const fsys::path old = fsys::path(output_dir) / (".checkpoint-" + std::to_string(step) + ".replaced");
    if (fsys::exists(old)) remove_tree(old);
    fsys::rename(final_dir, old);
    fsys::rename(partial, final_dir);
    fsync_dir(output_dir);
    remove_tree(old);
  } else {
    fsys::rename(partial, final_dir);
  }
  fsync_dir(output_dir);
  atomic_write((final_dir / kCommitMarker).string(), std::to_string(step) + "\n");
  fsync_dir(final_dir.string());
  return final_dir.string();
}

void rotate_checkpoints(const std::string& output_dir, int64_t limit) {
  if (limit <= 0) return;
  auto all = committed_checkpoints(output_dir);
  while (static_cast<int64_t>(all.size()) > limit) {
    const fsys::path victim = all.front().path;
    const fsys::path doomed = fsys::path(output_dir) / ("." + victim.filename().string() + ".deleting");
    if (fsys::exists(doomed)) remove_tree(doomed);
    fsys::rename(victim, doomed);  // no half-deleted folder ever looks committed
    remove_tree(doomed);
    all.erase(all.begin());
  }
}

void remove_partial_checkpoints(const std::string& output_dir) {
  std::error_code ec;
  if (!fsys::is_directory(output_dir, ec)) return;
  std::vector<fsys::path> stale;
  for (const auto& e : fsys::directory_iterator(output_dir, ec)) {
    const std::string n = e.path().filename().string();
    const bool ours = n.rfind(".checkpoint-", 0) == 0 &&
                      (n.size() > 8 && (n.substr(n.size() - 8) == ".partial" || n.substr(n.size() - 9) == ".deleting" ||
                                        n.substr(n.size() - 9) == ".replaced"));
    if (ours) stale.push_back(e.path());
  }
  for (const auto& p : stale) remove_tree(p);
}

void verify_checkpoint(const std::string& path) {
  const fsys::path dir(path);
  IMP_CHECK_KIND(fsys::is_directory(dir), ErrorKind::io, path, ": not a checkpoint folder");
  IMP_CHECK(fsys::exists(dir / kCommitMarker), path, ": has no ", kCommitMarker,
            " marker: it was never completely written\nhint: resume from an older checkpoint-* or start afresh");
  const std::string manifest_path = (dir / kManifest).string();
  IMP_CHECK(fsys::exists(manifest_path), path, ": manifest.json is missing");
  const Json m = read_json_file(manifest_path, json_limits::manifest);
  IMP_CHECK(m.contains("files") && m.at("files").is_object(), manifest_path, ": no 'files' object");
  for (const auto& [name, entry] : m.at("files").items()) {
    const std::string file = (dir / name).string();
    IMP_CHECK(fsys::exists(file), path, ": ", name, " is listed in manifest.json but missing");
    uint64_t size = 0;
    const std::string hash = sha256_file(file, &size);
    IMP_CHECK(size == entry.at("size").get<uint64_t>(), file, ": size ", size, " differs from manifest.json (",
              entry.at("size").get<uint64_t>(), "): the file is truncated or was changed");
    IMP_CHECK(hash == entry.at("sha256").get<std::string>(), file,
              ": SHA-256 differs from manifest.json: the file is corrupt");
  }
}

std::optional<CheckpointRef> resolve_resume(const std::string& spec, const std::string& output_dir,
                                            const std::function<void(const std::string&)>& warn) {
  if (spec.empty() || spec == "false" || spec == "False") return std::nullopt;
  if (spec == "auto" || spec == "true" || spec == "True") {
    auto all = committed_checkpoints(output_dir);
    for (auto it = all.rbegin(); it != all.rend(); ++it) {
      try {
        verify_checkpoint(it->path);
        return *it;
      } catch (const Error& e) {
        warn(std::string("skipping a damaged checkpoint: ") + e.what());
      }
    }
    return std::nullopt;
  }
  verify_checkpoint(spec);
  const auto step = step_of(fsys::path(spec).filename().string());
  IMP_CHECK(step.has_value(), spec, ": a checkpoint folder is named checkpoint-<step>");
  return CheckpointRef{spec, *step};
}

int64_t fault_write_limit(const std::string& file_name) {
  const std::string arg = fault_argument("ckpt_write"), prefix = file_name + ":";
  if (arg.rfind(prefix, 0) != 0) return -1;
  return std::stoll(arg.substr(prefix.size()));
}

}  // namespace imp::train
