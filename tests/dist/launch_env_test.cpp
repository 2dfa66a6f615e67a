// FT-6 launcher matrix: rank / world / local rank / rendezvous resolution from torchrun, Slurm srun,
// Slurm + torchrun, the deepspeed launcher, imp launch, plain CLI flags, and conflicts that must be refused.
// Also the Slurm hostlist helpers and imp launch's planning (torch-free).
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "imp/core/error.h"
#include "imp/dist/launch_env.h"
#include "imp/dist/launcher.h"

namespace imp::dist {
namespace {

using Env = std::map<std::string, std::string>;

struct Ok {
  const char* name;
  Env env;
  int cli_local_rank;
  LaunchInfo want;
};

LaunchInfo info(int rank, int world, int local, int local_world, const char* addr, int port, const char* launcher,
                bool agent = false, int restart = 0) {
  LaunchInfo i;
  i.rank = rank, i.world_size = world, i.local_rank = local, i.local_world_size = local_world;
  i.master_addr = addr, i.master_port = port, i.launcher = launcher, i.agent_store = agent, i.restart_count = restart;
  return i;
}

const Env kSrun = {{"SLURM_PROCID", "5"},      {"SLURM_NTASKS", "8"},  {"SLURM_LOCALID", "1"},
                   {"SLURM_NODEID", "1"},      {"SLURM_NNODES", "2"},  {"SLURM_NTASKS_PER_NODE", "4"},
                   {"SLURM_JOB_NODELIST", "gpu[07-08]"}, {"SLURM_JOB_ID", "123456"}, {"SLURM_RESTART_COUNT", "1"}};

Env with(Env base, const Env& extra) {
  for (const auto& [k, v] : extra) base[k] = v;
  return base;
}

TEST(LaunchEnv, ResolvesEveryLauncher) {
  const std::vector<Ok> cases = {
      {"plain", {}, -1, info(0, 1, 0, 1, "127.0.0.1", 29500, "none")},
      {"empty values count as unset", {{"RANK", ""}, {"WORLD_SIZE", ""}}, -1, info(0, 1, 0, 1, "127.0.0.1", 29500, "none")},
      {"plain --local_rank 0", {}, 0, info(0, 1, 0, 1, "127.0.0.1", 29500, "cli")},
      {"torchrun with agent store",
       {{"RANK", "3"}, {"WORLD_SIZE", "8"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "2"}, {"GROUP_RANK", "1"},
        {"MASTER_ADDR", "10.1.2.3"}, {"MASTER_PORT", "29400"}, {"TORCHELASTIC_RUN_ID", "job"},
        {"TORCHELASTIC_RESTART_COUNT", "2"}, {"TORCHELASTIC_USE_AGENT_STORE", "True"}},
       -1, info(3, 8, 1, 2, "10.1.2.3", 29400, "torchrun", true, 2)},
      {"torchrun standalone",
       {{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "2"}, {"MASTER_ADDR", "localhost"},
        {"MASTER_PORT", "29500"}, {"TORCHELASTIC_USE_AGENT_STORE", "False"}, {"TORCHELASTIC_RESTART_COUNT", "0"}},
       -1, info(1, 2, 1, 2, "localhost", 29500, "torchrun")},
      {"env:// without LOCAL_WORLD_SIZE on one node", {{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "0"}}, -1,
       info(0, 2, 0, 2, "127.0.0.1", 29500, "torchrun")},
      {"srun, one task per GPU", kSrun, -1, info(5, 8, 1, 4, "gpu07", 15000 + 3456, "slurm", false, 1)},
      {"srun, step tasks per node, MASTER_* win",
       {{"SLURM_PROCID", "6"}, {"SLURM_NTASKS", "7"}, {"SLURM_LOCALID", "1"}, {"SLURM_NODEID", "2"},
        {"SLURM_STEP_TASKS_PER_NODE", "3,2(x2)"}, {"SLURM_JOB_NODELIST", "n[1-3]"}, {"MASTER_ADDR", "10.0.0.9"},
        {"MASTER_PORT", "4242"}},
       -1, info(6, 7, 1, 2, "10.0.0.9", 4242, "slurm")},
      {"srun --local_rank agrees", kSrun, 1, info(5, 8, 1, 4, "gpu07", 18456, "slurm", false, 1)},
      {"sbatch, one task", {{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "1"}, {"SLURM_LOCALID", "0"}, {"SLURM_JOB_ID", "77"}},
       -1, info(0, 1, 0, 1, "127.0.0.1", 15077, "slurm")},
      {"srun + torchrun inside: torchrun wins",
       with(kSrun, {{"RANK", "9"}, {"WORLD_SIZE", "16"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "8"},
                    {"MASTER_ADDR", "node0"}, {"MASTER_PORT", "29500"}, {"TORCHELASTIC_RUN_ID", "1"},
                    {"TORCHELASTIC_RESTART_COUNT", "0"}}),
       -1, info(9, 16, 1, 8, "node0", 29500, "torchrun")},
      {"deepspeed env + --local_rank",
       {{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "1"}, {"LOCAL_SIZE", "2"}, {"CROSS_RANK", "0"},
        {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "29600"}},
       1, info(1, 2, 1, 2, "127.0.0.1", 29600, "deepspeed")},
      {"deepspeed: --local_rank only in argv",
       {{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_SIZE", "2"}, {"MASTER_ADDR", "h0"}, {"MASTER_PORT", "29600"}}, 1,
       info(3, 4, 1, 2, "h0", 29600, "deepspeed")},
      {"imp launch",
       {{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"},
        {"MASTER_PORT", "4000"}, {"IMP_LAUNCHER", "imp-launch"}},
       -1, info(1, 2, 1, 2, "127.0.0.1", 4000, "imp-launch")},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    LaunchInfo got;
    ASSERT_NO_THROW(got = resolve_launch(c.env, c.cli_local_rank));
    EXPECT_EQ(got.rank, c.want.rank);
    EXPECT_EQ(got.world_size, c.want.world_size);
    EXPECT_EQ(got.local_rank, c.want.local_rank);
    EXPECT_EQ(got.local_world_size, c.want.local_world_size);
    EXPECT_EQ(got.master_addr, c.want.master_addr);
    EXPECT_EQ(got.master_port, c.want.master_port);
    EXPECT_EQ(got.launcher, c.want.launcher);
    EXPECT_EQ(got.agent_store, c.want.agent_store);
    EXPECT_EQ(got.restart_count, c.want.restart_count);
  }
}

struct Refused {
  const char* name;
  Env env;
  int cli_local_rank;
  const char* message;  // part of the error
};

TEST(LaunchEnv, RefusesConflicts) {
  const Env two = {{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "0"}, {"LOCAL_WORLD_SIZE", "2"}};
  const std::vector<Refused> cases = {
      {"--local_rank != LOCAL_RANK", two, 1, "--local_rank 1 conflicts with LOCAL_RANK=0"},
      {"rank >= world", with(two, {{"RANK", "2"}}), -1, "rank 2 is not below the world size 2"},
      {"RANK without WORLD_SIZE", {{"RANK", "0"}}, -1, "RANK is set but WORLD_SIZE is not"},
      {"WORLD_SIZE without RANK", {{"WORLD_SIZE", "2"}}, -1, "WORLD_SIZE is set but RANK is not"},
      {"not a number", with(two, {{"RANK", "one"}}), -1, "RANK='one' is not an integer"},
      {"negative rank", with(two, {{"RANK", "-1"}}), -1, "RANK='-1' is not an integer in [0,"},
      {"port out of range", with(two, {{"MASTER_PORT", "70000"}}), -1, "MASTER_PORT='70000'"},
      {"LOCAL_RANK alone", {{"LOCAL_RANK", "0"}}, -1, "LOCAL_RANK is set but RANK and WORLD_SIZE are not"},
      {"--local_rank 3 alone", {}, 3, "--local_rank 3 given without a launcher environment"},
      {"no LOCAL_RANK with world 2", {{"RANK", "1"}, {"WORLD_SIZE", "2"}}, -1, "LOCAL_RANK is not set"},
      {"LOCAL_RANK >= LOCAL_WORLD_SIZE", with(two, {{"LOCAL_RANK", "2"}, {"RANK", "1"}}), -1,
       "local rank 2 is not below the local world size 2"},
      {"LOCAL_WORLD_SIZE vs LOCAL_SIZE", with(two, {{"LOCAL_SIZE", "4"}}), -1,
       "LOCAL_WORLD_SIZE=2 conflicts with LOCAL_SIZE=4"},
      {"LOCAL_WORLD_SIZE > WORLD_SIZE", with(two, {{"LOCAL_WORLD_SIZE", "4"}}), -1, "local world size 4 is not in"},
      {"multi-node without MASTER_ADDR", {{"RANK", "0"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "0"}, {"LOCAL_WORLD_SIZE", "2"}},
       -1, "MASTER_ADDR is not set"},
      {"remote MASTER_ADDR without LOCAL_WORLD_SIZE",
       {{"RANK", "0"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "0"}, {"MASTER_ADDR", "10.0.0.1"}}, -1,
       "LOCAL_WORLD_SIZE is not set"},
      {"agent store flag not a boolean", with(two, {{"TORCHELASTIC_USE_AGENT_STORE", "maybe"}}), -1, "not a boolean"},
      {"srun --local_rank != SLURM_LOCALID", kSrun, 0, "--local_rank 0 conflicts with SLURM_LOCALID=1"},
      {"srun SLURM_PROCID >= SLURM_NTASKS", with(kSrun, {{"SLURM_PROCID", "8"}}), -1, "rank 8 is not below"},
      {"srun local id >= tasks per node", with(kSrun, {{"SLURM_LOCALID", "4"}}), -1, "local rank 4 is not below"},
      {"srun without SLURM_LOCALID",
       {{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"SLURM_NTASKS_PER_NODE", "2"}}, -1, "SLURM_LOCALID is not set"},
      {"srun multi-node without node list",
       {{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "4"}, {"SLURM_LOCALID", "0"}, {"SLURM_NTASKS_PER_NODE", "2"}}, -1,
       "neither MASTER_ADDR nor SLURM_JOB_NODELIST"},
      {"srun tasks per node unknown", {{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "4"}, {"SLURM_LOCALID", "0"},
                                       {"SLURM_NNODES", "2"}}, -1, "tasks per node unknown"},
      {"srun bad tasks-per-node list", with(kSrun, {{"SLURM_NTASKS_PER_NODE", ""}, {"SLURM_STEP_TASKS_PER_NODE", "4(x"}}),
       -1, "is malformed"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    try {
      const LaunchInfo got = resolve_launch(c.env, c.cli_local_rank);
      ADD_FAILURE() << "accepted: " << describe(got);
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::usage);
      EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
    }
  }
}

TEST(LaunchEnv, SlurmHostlists) {
  EXPECT_EQ(slurm_head_node("gpu[01-03,07],cpu5"), "gpu01");
  EXPECT_EQ(slurm_head_node("node7"), "node7");
  EXPECT_EQ(slurm_head_node("a,b"), "a");
  EXPECT_EQ(slurm_head_node("rack[2-3]-n[07,09]"), "rack2-n07");
  EXPECT_EQ(slurm_head_node("h[5]"), "h5");
  for (const char* bad : {"", "gpu[01-03", "gpu]1", "gpu[]", ",a"}) {
    SCOPED_TRACE(bad);
    EXPECT_THROW(slurm_head_node(bad), Error);
  }
  EXPECT_EQ(slurm_tasks_per_node("2(x3),1"), (std::vector<int>{2, 2, 2, 1}));
  EXPECT_EQ(slurm_tasks_per_node("8"), (std::vector<int>{8}));
  for (const char* bad : {"", "2(x", "x2", "2(x3)y", "0", "2,,1"}) {
    SCOPED_TRACE(bad);
    EXPECT_THROW(slurm_tasks_per_node(bad), Error);
  }
}

LaunchOptions launch_options(int nproc, const std::string& nnodes = "1") {
  LaunchOptions o;
  o.nproc_per_node = nproc;
  o.nnodes = nnodes;
  o.command = {"dist-check"};
  return o;
}

TEST(Launcher, PlansOneNodeAndSeveral) {
  auto plan = plan_launch(launch_options(4), {});
  EXPECT_EQ(plan.nnodes, 1);
  EXPECT_EQ(plan.node_rank, 0);
  EXPECT_EQ(plan.master_addr, "127.0.0.1");
  EXPECT_EQ(plan.master_port, 29500);

  auto o = launch_options(8, "2");
  o.node_rank = 1, o.master_addr = "10.0.0.1", o.master_port = 1234;
  plan = plan_launch(o, {});
  EXPECT_EQ(plan.nnodes, 2);
  EXPECT_EQ(plan.node_rank, 1);
  EXPECT_EQ(plan.master_addr, "10.0.0.1");
  EXPECT_EQ(plan.master_port, 1234);

  // --nnodes auto: one srun task per node.
  const Env slurm = {{"SLURM_NNODES", "3"}, {"SLURM_NODEID", "2"}, {"SLURM_NTASKS", "3"},
                     {"SLURM_JOB_NODELIST", "gpu[11-13]"}, {"SLURM_JOB_ID", "98765"}};
  plan = plan_launch(launch_options(4, "auto"), slurm);
  EXPECT_EQ(plan.nnodes, 3);
  EXPECT_EQ(plan.node_rank, 2);
  EXPECT_EQ(plan.master_addr, "gpu11");
  EXPECT_EQ(plan.master_port, 15000 + 8765);
  plan = plan_launch(launch_options(4, "auto"), with(slurm, {{"MASTER_ADDR", "10.9.9.9"}, {"MASTER_PORT", "5555"}}));
  EXPECT_EQ(plan.master_addr, "10.9.9.9");
  EXPECT_EQ(plan.master_port, 5555);
}

TEST(Launcher, RefusesInconsistentPlans) {
  auto expect_refused = [](const LaunchOptions& o, const Env& env, const std::string& message) {
    try {
      plan_launch(o, env);
      ADD_FAILURE() << "accepted, expected: " << message;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::usage);
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  };
  auto no_command = launch_options(2);
  no_command.command.clear();
  expect_refused(no_command, {}, "needs the imp command to run after '--'");
  expect_refused(launch_options(0), {}, "--nproc_per_node must be at least 1");
  expect_refused(launch_options(2, "two"), {}, "--nnodes is a number >= 1 or 'auto'");
  expect_refused(launch_options(2, "2"), {}, "needs --node_rank");
  auto no_addr = launch_options(2, "2");
  no_addr.node_rank = 0;
  expect_refused(no_addr, {}, "needs --master_addr");
  auto bad_rank = no_addr;
  bad_rank.master_addr = "h0", bad_rank.node_rank = 2;
  expect_refused(bad_rank, {}, "node rank 2 is not below the number of nodes 2");
  auto port0 = bad_rank;
  port0.node_rank = 1, port0.master_port = 0;
  expect_refused(port0, {}, "--master_port 0");
  expect_refused(launch_options(2, "auto"), {}, "--nnodes auto reads SLURM_NNODES");
  expect_refused(launch_options(2, "auto"), {{"SLURM_NNODES", "2"}, {"SLURM_NODEID", "0"}, {"SLURM_NTASKS", "16"}},
                 "one imp launch per node");
  auto auto_rank = launch_options(2, "auto");
  auto_rank.node_rank = 1;
  expect_refused(auto_rank, {{"SLURM_NNODES", "2"}, {"SLURM_NODEID", "0"}, {"SLURM_JOB_NODELIST", "a[1-2]"}},
                 "--node_rank 1 conflicts with SLURM_NODEID=0");
}

// What imp launch gives a rank resolves back to that rank, and nothing of an outer torchrun leaks through.
TEST(Launcher, ChildEnvironmentResolvesToItsRank) {
  LaunchPlan plan;
  plan.nnodes = 2, plan.node_rank = 1, plan.nproc_per_node = 3, plan.master_addr = "10.0.0.1", plan.master_port = 777;
  const Env parent = {{"PATH", "/bin"},      {"TORCHELASTIC_USE_AGENT_STORE", "True"}, {"RANK", "5"},
                      {"LOCAL_SIZE", "8"},   {"OMP_NUM_THREADS", "3"},                  {"SLURM_RESTART_COUNT", "2"}};
  const auto entries = child_environment(plan, 2, parent);
  Env child;
  for (const auto& kv : entries) {
    const auto eq = kv.find('=');
    ASSERT_NE(eq, std::string::npos) << kv;
    ASSERT_TRUE(child.emplace(kv.substr(0, eq), kv.substr(eq + 1)).second) << "duplicate " << kv;
  }
  EXPECT_EQ(child.count("TORCHELASTIC_USE_AGENT_STORE"), 0u);
  EXPECT_EQ(child.count("LOCAL_SIZE"), 0u);
  EXPECT_EQ(child.at("PATH"), "/bin");
  EXPECT_EQ(child.at("OMP_NUM_THREADS"), "3");
  const LaunchInfo got = resolve_launch(child);
  EXPECT_EQ(describe(got), describe(info(5, 6, 2, 3, "10.0.0.1", 777, "imp-launch")));
  EXPECT_EQ(got.restart_count, 2);  // Slurm requeue count still visible to resume logic
}

}  // namespace
}  // namespace imp::dist
