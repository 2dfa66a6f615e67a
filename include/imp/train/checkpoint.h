// Training checkpoints that lose nothing (reliability.md CKPT-1..6): every file of
// <output_dir>/checkpoint-<step> is written into a hidden ".checkpoint-<step>.partial" folder, rank 0
// writes manifest.json (size + SHA-256 of every file) after a barrier, renames the folder into place,
// then writes the COMMITTED marker last (temp file, fsync, rename, fsync of the folder). Only
// committed checkpoints are loaded or rotated; rotation happens only after a commit. Torch-free.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "imp/core/json.h"

namespace imp::train {

constexpr const char* kCommitMarker = "COMMITTED";
constexpr const char* kManifest = "manifest.json";

struct CheckpointRef {
  std::string path;
  int64_t step = 0;
};

// Committed imp checkpoints in output_dir, oldest first. Folders without the marker (half-written, or
// written by another tool) are never listed, never deleted.
std::vector<CheckpointRef> committed_checkpoints(const std::string& output_dir);

// The folder being written for `step` (created empty, replacing a stale partial one).
std::string begin_checkpoint(const std::string& output_dir, int64_t step);
// Rank 0, after every rank has written its files: manifest, rename into place, marker. Returns the path.
std::string commit_checkpoint(const std::string& output_dir, int64_t step);
// Rank 0: keep the newest `limit` committed checkpoints (never the one just written).
void rotate_checkpoints(const std::string& output_dir, int64_t limit);
// Rank 0 at start: removes ".checkpoint-*.partial" folders left by a crash.
void remove_partial_checkpoints(const std::string& output_dir);

// Checks the marker and every manifest entry (size, SHA-256); throws imp::Error naming the file.
void verify_checkpoint(const std::string& path);

// --resume_from_checkpoint: "" -> none; "auto" -> the newest committed checkpoint that verifies (a
// corrupt one is reported through `warn` and skipped); a path -> that checkpoint, verified.
std::optional<CheckpointRef> resolve_resume(const std::string& spec, const std::string& output_dir,
                                            const std::function<void(const std::string&)>& warn);

// Test hook for crash tests (CKPT-1): IMP_FAULT=ckpt_write:<file name>:<bytes> makes the process
// _exit(137) after writing that many bytes of that checkpoint file. Returns the byte limit, or -1.
int64_t fault_write_limit(const std::string& file_name);

}  // namespace imp::train
