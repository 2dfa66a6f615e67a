// Launcher environment -> LaunchInfo (see include/imp/dist/launch_env.h for the rules).
#include "imp/dist/launch_env.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "imp/core/error.h"

extern char** environ;

namespace imp::dist {
namespace {

constexpr auto kUsage = ErrorKind::usage;

class Env {
 public:
  explicit Env(const std::map<std::string, std::string>& env) : env_(env) {}

  // An unset or empty variable is absent.
  std::optional<std::string> get(const std::string& key) const {
    auto it = env_.find(key);
    if (it == env_.end() || it->second.empty()) return std::nullopt;
    return it->second;
  }
  bool has(const std::string& key) const { return get(key).has_value(); }

  std::optional<int> get_int(const std::string& key, int min_value, int max_value = INT_MAX) const {
    auto v = get(key);
    if (!v) return std::nullopt;
    errno = 0;
    char* end = nullptr;
    const long x = std::strtol(v->c_str(), &end, 10);
    IMP_CHECK_KIND(end && *end == '\0' && errno == 0 && x >= min_value && x <= max_value, kUsage, key, "='", *v,
                   "' is not an integer in [", min_value, ", ", max_value, "]; fix or unset it");
    return static_cast<int>(x);
  }

  int require_int(const std::string& key, int min_value, const std::string& why) const {
    auto v = get_int(key, min_value);
    IMP_CHECK_KIND(v.has_value(), kUsage, key, " is not set but ", why);
    return *v;
  }

  bool any_with_prefix(const std::string& prefix) const {
    for (auto it = env_.lower_bound(prefix); it != env_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it)
      if (!it->second.empty()) return true;
    return false;
  }

 private:
  const std::map<std::string, std::string>& env_;
};

bool is_loopback(const std::string& addr) {
  return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

bool parse_bool(const Env& env, const std::string& key) {
  auto v = env.get(key);
  if (!v) return false;
  if (*v == "True" || *v == "true" || *v == "1") return true;
  if (*v == "False" || *v == "false" || *v == "0") return false;
  throw Error(str(key, "='", *v, "' is not a boolean (True/False)"), kUsage);
}

// RANK/WORLD_SIZE contract shared by torchrun, the deepspeed launcher and imp launch.
LaunchInfo from_rank_env(const Env& env, int cli_local_rank) {
  IMP_CHECK_KIND(env.has("RANK") && env.has("WORLD_SIZE"), kUsage, env.has("RANK") ? "RANK" : "WORLD_SIZE",
                 " is set but ", env.has("RANK") ? "WORLD_SIZE" : "RANK",
                 " is not; a launcher sets both (torchrun, deepspeed, imp launch) - set both or neither");
  LaunchInfo info;
  info.rank = *env.get_int("RANK", 0);
  info.world_size = *env.get_int("WORLD_SIZE", 1);

  if (env.get("IMP_LAUNCHER") == std::optional<std::string>("imp-launch"))
    info.launcher = "imp-launch";
  else if (env.any_with_prefix("TORCHELASTIC_") || env.has("GROUP_RANK"))
    info.launcher = "torchrun";
  else if (cli_local_rank >= 0 || env.has("LOCAL_SIZE") || env.has("CROSS_RANK"))
    info.launcher = "deepspeed";
  else
    info.launcher = "torchrun";

  auto local_rank = env.get_int("LOCAL_RANK", 0);
  if (cli_local_rank >= 0) {
    IMP_CHECK_KIND(!local_rank || *local_rank == cli_local_rank, kUsage, "--local_rank ", cli_local_rank,
                   " conflicts with LOCAL_RANK=", *local_rank, " in the environment; drop one of them");
    local_rank = cli_local_rank;
  }
  IMP_CHECK_KIND(local_rank || info.world_size == 1, kUsage,
                 "LOCAL_RANK is not set (and no --local_rank) but WORLD_SIZE=", info.world_size,
                 "; the launcher must say which local device each rank uses");
  info.local_rank = local_rank.value_or(0);

  auto lws = env.get_int("LOCAL_WORLD_SIZE", 1);
  auto local_size = env.get_int("LOCAL_SIZE", 1);  // deepspeed's name
  IMP_CHECK_KIND(!lws || !local_size || *lws == *local_size, kUsage, "LOCAL_WORLD_SIZE=", *lws,
                 " conflicts with LOCAL_SIZE=", *local_size);
  if (!lws) lws = local_size;

  auto addr = env.get("MASTER_ADDR");
  if (!lws) {
    IMP_CHECK_KIND(!addr || is_loopback(*addr) || info.world_size == 1, kUsage,
                   "LOCAL_WORLD_SIZE is not set and MASTER_ADDR=", *addr,
                   " is another host; set LOCAL_WORLD_SIZE (ranks per node)");
    lws = info.world_size;  // one node
  }
  info.local_world_size = *lws;
  IMP_CHECK_KIND(addr || info.local_world_size >= info.world_size, kUsage, "MASTER_ADDR is not set but WORLD_SIZE=",
                 info.world_size, " spans several nodes (LOCAL_WORLD_SIZE=", info.local_world_size,
                 "); set MASTER_ADDR to the address of the node of rank 0");
  if (addr) info.master_addr = *addr;
  info.master_port = env.get_int("MASTER_PORT", 1, 65535).value_or(29500);
  info.agent_store = parse_bool(env, "TORCHELASTIC_USE_AGENT_STORE");
  info.restart_count =
      env.get_int("TORCHELASTIC_RESTART_COUNT", 0).value_or(env.get_int("SLURM_RESTART_COUNT", 0).value_or(0));
  return info;
}

// Slurm srun, one task per device.
LaunchInfo from_slurm_env(const std::map<std::string, std::string>& env_map, int cli_local_rank) {
  const Env env(env_map);
  LaunchInfo info;
  info.launcher = "slurm";
  info.rank = *env.get_int("SLURM_PROCID", 0);
  info.world_size = *env.get_int("SLURM_NTASKS", 1);
  info.local_rank = env.require_int("SLURM_LOCALID", 0, "SLURM_PROCID is (srun sets both)");
  IMP_CHECK_KIND(cli_local_rank < 0 || cli_local_rank == info.local_rank, kUsage, "--local_rank ", cli_local_rank,
                 " conflicts with SLURM_LOCALID=", info.local_rank, "; drop --local_rank under srun");

  const int node = env.get_int("SLURM_NODEID", 0).value_or(0);
  if (auto n = env.get_int("SLURM_NTASKS_PER_NODE", 1)) {
    info.local_world_size = *n;
  } else {
    std::optional<std::string> spec = env.get("SLURM_STEP_TASKS_PER_NODE");
    const char* name = "SLURM_STEP_TASKS_PER_NODE";
    if (!spec) spec = env.get("SLURM_TASKS_PER_NODE"), name = "SLURM_TASKS_PER_NODE";
    if (spec) {
      const auto per_node = slurm_tasks_per_node(*spec);
      IMP_CHECK_KIND(node < static_cast<int>(per_node.size()), kUsage, name, "='", *spec,
                     "' has no entry for SLURM_NODEID=", node);
      info.local_world_size = per_node[node];
    } else {
      IMP_CHECK_KIND(env.get_int("SLURM_NNODES", 1).value_or(1) == 1, kUsage,
                     "Slurm tasks per node unknown: set --ntasks-per-node (SLURM_NTASKS_PER_NODE)");
      info.local_world_size = info.world_size;
    }
  }

  const std::string addr = slurm_master_addr(env_map);
  IMP_CHECK_KIND(!addr.empty() || info.local_world_size >= info.world_size, kUsage,
                 "neither MASTER_ADDR nor SLURM_JOB_NODELIST is set for a multi-node Slurm run");
  if (!addr.empty()) info.master_addr = addr;
  info.master_port = slurm_master_port(env_map);
  info.restart_count = env.get_int("SLURM_RESTART_COUNT", 0).value_or(0);
  return info;
}

void validate(const LaunchInfo& info) {
  IMP_CHECK_KIND(info.rank < info.world_size, kUsage, "rank ", info.rank, " is not below the world size ",
                 info.world_size, " (launcher ", info.launcher, "); the launcher environment is inconsistent");
  IMP_CHECK_KIND(info.local_world_size >= 1 && info.local_world_size <= info.world_size, kUsage,
                 "local world size ", info.local_world_size, " is not in [1, world size ", info.world_size,
                 "] (launcher ", info.launcher, ")");
  IMP_CHECK_KIND(info.local_rank < info.local_world_size, kUsage, "local rank ", info.local_rank,
                 " is not below the local world size ", info.local_world_size, " (launcher ", info.launcher, ")");
  IMP_CHECK_KIND(info.rank >= info.local_rank, kUsage, "rank ", info.rank, " is below local rank ", info.local_rank,
                 " (launcher ", info.launcher, ")");
}

}  // namespace

LaunchInfo resolve_launch(const std::map<std::string, std::string>& env_map, int cli_local_rank) {
  const Env env(env_map);
  LaunchInfo info;
  if (env.has("RANK") || env.has("WORLD_SIZE")) {
    info = from_rank_env(env, cli_local_rank);  // torchrun inside Slurm included: torchrun wins
  } else if (env.has("SLURM_PROCID") && env.has("SLURM_NTASKS")) {
    info = from_slurm_env(env_map, cli_local_rank);
  } else {
    IMP_CHECK_KIND(!env.has("LOCAL_RANK"), kUsage, "LOCAL_RANK is set but RANK and WORLD_SIZE are not; "
                   "start imp with a launcher (imp launch, torchrun, srun) or unset LOCAL_RANK");
    IMP_CHECK_KIND(cli_local_rank <= 0, kUsage, "--local_rank ", cli_local_rank,
                   " given without a launcher environment (RANK/WORLD_SIZE); a single process is local rank 0");
    if (cli_local_rank == 0) info.launcher = "cli";
  }
  validate(info);
  return info;
}

std::map<std::string, std::string> environ_map() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e && *e; ++e) {
    const std::string kv(*e);
    const auto eq = kv.find('=');
    if (eq != std::string::npos) out.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return out;
}

LaunchInfo resolve_launch_from_environ(int cli_local_rank) { return resolve_launch(environ_map(), cli_local_rank); }

std::string slurm_master_addr(const std::map<std::string, std::string>& env_map) {
  const Env env(env_map);
  if (auto addr = env.get("MASTER_ADDR")) return *addr;
  if (auto list = env.get("SLURM_JOB_NODELIST")) return slurm_head_node(*list);
  if (auto list = env.get("SLURM_NODELIST")) return slurm_head_node(*list);
  return "";
}

int slurm_master_port(const std::map<std::string, std::string>& env_map) {
  const Env env(env_map);
  if (auto port = env.get_int("MASTER_PORT", 1, 65535)) return *port;
  if (auto job = env.get_int("SLURM_JOB_ID", 0)) return 15000 + *job % 10000;
  return 29500;
}

std::string slurm_head_node(const std::string& nodelist) {
  auto bad = [&](const char* why) {
    return Error(str("Slurm node list '", nodelist, "' ", why, "; set MASTER_ADDR to the head node instead"), kUsage);
  };
  std::string out;
  size_t i = 0;
  while (i < nodelist.size() && nodelist[i] != ',') {
    if (nodelist[i] == '[') {
      const size_t close = nodelist.find(']', i);
      if (close == std::string::npos) throw bad("has an unclosed '['");
      const std::string range = nodelist.substr(i + 1, close - i - 1);
      const std::string first = range.substr(0, range.find_first_of(",-"));
      if (first.empty() || first.find_first_not_of("0123456789") != std::string::npos)
        throw bad("has a bracket range that does not start with a number");
      out += first;
      i = close + 1;
    } else if (nodelist[i] == ']') {
      throw bad("has an unmatched ']'");
    } else {
      out += nodelist[i++];
    }
  }
  if (out.empty()) throw bad("is empty");
  return out;
}

std::vector<int> slurm_tasks_per_node(const std::string& spec) {
  std::vector<int> out;
  size_t i = 0;
  while (i <= spec.size()) {
    const size_t comma = std::min(spec.find(',', i), spec.size());
    const std::string item = spec.substr(i, comma - i);
    int count = 0, repeat = 1;
    char tail = 0;
    const int n = std::sscanf(item.c_str(), "%d(x%d)%c", &count, &repeat, &tail);
    const bool plain = item.find('(') == std::string::npos && n == 1 &&
                       item.find_first_not_of("0123456789") == std::string::npos;
    IMP_CHECK_KIND((plain || n == 2) && count > 0 && repeat > 0, kUsage, "Slurm tasks-per-node list '", spec,
                   "' is malformed at '", item, "' (expected e.g. 2(x3),1)");
    out.insert(out.end(), repeat, count);
    i = comma + 1;
  }
  return out;
}

std::string describe(const LaunchInfo& info) {
  return str("rank ", info.rank, "/", info.world_size, " (local ", info.local_rank, "/", info.local_world_size,
             ") via ", info.launcher, ", rendezvous ", info.master_addr, ":", info.master_port,
             info.agent_store ? str(" (agent store, attempt ", info.restart_count, ")") : std::string());
}

}  // namespace imp::dist
