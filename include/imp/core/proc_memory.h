// This process's memory as Linux reports it (/proc), for the trainer's and `imp bench`'s memory lines and the
// checkpoint plan's budget. Torch-free.
#pragma once

#include <cstdint>
#include <string>

namespace imp {

// A kB line of /proc/self/status ("VmRSS", "VmHWM": the resident set now and its high-water mark) in bytes;
// -1 where there is none (not Linux).
int64_t proc_status_bytes(const std::string& key);
// A kB line of /proc/meminfo ("MemAvailable") in bytes; -1 where there is none.
int64_t meminfo_bytes(const std::string& key);
// Restarts the VmHWM high-water mark at the current RSS ("5" > /proc/self/clear_refs); false where Linux refuses.
bool reset_peak_rss();

}  // namespace imp
