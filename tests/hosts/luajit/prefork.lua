-- The prefork pattern from a LuaJIT host (tests/c/test_prefork.c in C).
--
--   luajit tests/hosts/luajit/prefork.lua [LIBPRWLOCK] [--measure [N]]
--   LIBPRWLOCK: path of libprwlock.so (default: $PRWLOCK_LIBRARY)
--
-- The parent opens a named lock and uses it, then forks 4 workers with
-- fork() and no exec; worker 0 forks a child that forks a child (3 levels
-- below the parent). Every worker uses the inherited handle for reading and
-- writing while the parent keeps acquiring, then opens the lock anew by name
-- and uses that handle too. An invariant in shared memory is checked inside
-- every critical section. Exits non-zero on any error, violation, failed or
-- idle process, after a one-line summary.
--
-- --measure N (not a test; no timing is ever asserted) prints instead, for N
-- children forked one after another without contention: the first call on
-- an inherited handle (a try_acquire_read and its release, as bench_fork
-- does in C), the first call that needs the engine (prw_info, which loads
-- the library's private copy), and the parent's uncontended read pair
-- (100k try_acquire_read/release).
local ffi = require("ffi")
local bit = require("bit")

ffi.cdef [[
typedef struct prw_lock prw_lock;
typedef struct prw_info {
  uint32_t readers, writer_pid, writer_tid, writer_active;
  uint32_t waiting_readers, waiting_writers, capacity, used_slots;
  uint32_t attached, owner_dead;
  uint64_t recoveries, owner_deaths;
} prw_info_t;
int prw_open(const char *name, int flags, unsigned int mode, prw_lock **out);
int prw_close(prw_lock *lock);
int prw_unlink(const char *name);
int prw_acquire_read(prw_lock *lock, int64_t timeout_ns);
int prw_acquire_write(prw_lock *lock, int64_t timeout_ns);
int prw_try_acquire_read(prw_lock *lock);
int prw_release(prw_lock *lock);
int prw_info(prw_lock *lock, prw_info_t *info);
const char *prw_strerror(int err);

typedef long time_t;
struct timespec { time_t tv_sec; long tv_nsec; };
int clock_gettime(int clk, struct timespec *ts);
int fork(void);
int waitpid(int pid, int *status, int options);
void _exit(int status);
int getpid(void);
unsigned int alarm(unsigned int seconds);
void *mmap(void *addr, size_t len, int prot, int flags, int fd, long off);
int munmap(void *addr, size_t len);

/* The board: one row per process, written only by that process, so no
   atomics are needed (LuaJIT has none); aligned 32/64-bit stores are
   single-copy atomic on the platforms we run. */
typedef struct {
  int32_t writing;     /* 1 while inside a write hold */
  int32_t reading;     /* 1 while inside a read hold */
  int32_t violations;
  int32_t errors;
  int64_t ops;         /* round trips */
  int64_t first_ns;    /* --measure: the first call on the inherited handle */
  int64_t engine_ns;   /* --measure: the first call that needs the engine */
  int64_t pad[3];      /* a row per cache line */
} row_t;
]]

local C = ffi.C
local PRW_CREATE, PRW_EXCL = 1, 2
local EBUSY = 16
local CLOCK_MONOTONIC = 1
local PROT_RW, MAP_SHARED_ANON = 3, 0x01 + 0x20
local WNOHANG = 1
local WORKERS, NESTED = 4, 3
local PROCS = WORKERS + NESTED - 1 -- forked processes; row PROCS is the parent
local TIMEOUT = 20e9               -- 20 s: a wait this long is a hang
local INHERITED_S, OWN_S = 0.6, 0.3

local libpath, measure_n = os.getenv("PRWLOCK_LIBRARY"), nil
do
  local i = 1
  while arg[i] do
    if arg[i] == "--measure" then
      measure_n = tonumber(arg[i + 1]) or 20
      if tonumber(arg[i + 1]) then i = i + 1 end
    else
      libpath = arg[i]
    end
    i = i + 1
  end
end
if not libpath or libpath == "" then
  io.stderr:write("usage: luajit prefork.lua LIBPRWLOCK [--measure [N]] (or PRWLOCK_LIBRARY)\n")
  os.exit(2)
end
local P = ffi.load(libpath)

local ts = ffi.new("struct timespec")
local function now_ns()
  C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1e9 + tonumber(ts.tv_nsec)
end

local nrows = PROCS + 1
local mem = C.mmap(nil, ffi.sizeof("row_t") * nrows, PROT_RW, MAP_SHARED_ANON, -1, 0)
if ffi.cast("intptr_t", mem) == -1 then
  io.stderr:write("mmap failed\n")
  os.exit(2)
end
local board = ffi.cast("row_t *", mem) -- zero-filled by the kernel
local me = PROCS                         -- this process's row

-- fail counts an error of this process; rc is the call's result, if any.
local function fail(what, rc)
  local msg = rc and string.format(" = %d (%s)", rc, ffi.string(P.prw_strerror(rc))) or ""
  io.stderr:write(string.format("pid %d: %s%s\n", C.getpid(), what, msg))
  board[me].errors = board[me].errors + 1
end

-- dwell stays inside the critical section for a while. It is a few C calls
-- rather than an empty Lua loop, which the JIT would remove; a C call also
-- keeps the JIT from moving the board's loads and stores across it.
local function dwell()
  for _ = 1, 4 do C.clock_gettime(CLOCK_MONOTONIC, ts) end
end

-- others_inside: whether any other process is in a write hold (or, with
-- readers_too, in a read hold) right now.
local function others_inside(readers_too)
  for p = 0, PROCS do
    if p ~= me and (board[p].writing ~= 0 or (readers_too and board[p].reading ~= 0)) then
      return true
    end
  end
  return false
end

-- One write and one read critical section on l, checking the invariant.
local function round_trip(l)
  local rc = P.prw_acquire_write(l, TIMEOUT)
  if rc ~= 0 then return fail("acquire_write", rc) end
  board[me].writing = 1
  dwell() -- our flag is visible to the others before we look at theirs
  if others_inside(true) then board[me].violations = board[me].violations + 1 end
  board[me].writing = 0
  rc = P.prw_release(l)
  if rc ~= 0 then return fail("release write", rc) end

  rc = P.prw_acquire_read(l, TIMEOUT)
  if rc ~= 0 then return fail("acquire_read", rc) end
  board[me].reading = 1
  dwell()
  if others_inside(false) then board[me].violations = board[me].violations + 1 end
  board[me].reading = 0
  rc = P.prw_release(l)
  if rc ~= 0 then return fail("release read", rc) end
  board[me].ops = board[me].ops + 1
end

-- copy_loaded: whether the library's private copy (loaded in a fork child
-- by the calls that need the engine) is mapped in this process.
local function copy_loaded()
  local f = io.open("/proc/self/maps", "r")
  if not f then return false end
  local s = f:read("*a")
  f:close()
  return s:find("libprwlock-fork-copy", 1, true) ~= nil
end

local name = string.format("luatest.prefork.%d.%d", C.getpid(), now_ns() % 1e9)
local L -- opened by the parent, inherited by every worker

-- A worker: the inherited handle, then a handle of its own.
local function work()
  -- The first call on the inherited handle runs in C on the shared memory:
  -- it must work at once and load nothing. EBUSY is fine (the parent may
  -- hold the lock for writing).
  local rc = P.prw_try_acquire_read(L)
  if rc == 0 then
    rc = P.prw_release(L)
    if rc ~= 0 then fail("release after the first call", rc) end
  elseif rc ~= EBUSY then
    fail("first try_acquire_read in the child", rc)
  end
  if copy_loaded() then fail("the first data-plane call loaded the private copy") end

  local stop = now_ns() + INHERITED_S * 1e9
  while now_ns() < stop do round_trip(L) end

  local out = ffi.new("prw_lock *[1]")
  rc = P.prw_open(name, 0, 0, out)
  if rc ~= 0 then
    fail("prw_open in the worker", rc)
  else
    stop = now_ns() + OWN_S * 1e9
    while now_ns() < stop do round_trip(out[0]) end
    rc = P.prw_close(out[0])
    if rc ~= 0 then fail("close of the worker's own handle", rc) end
  end
  rc = P.prw_close(L)
  if rc ~= 0 then fail("close of the inherited handle", rc) end
end

-- describe(status): nil if the process exited 0, else why not.
local function describe(status)
  local sig = bit.band(status, 0x7f)
  if sig == 0 then
    local code = bit.band(bit.rshift(status, 8), 0xff)
    return code ~= 0 and ("exit status " .. code) or nil
  end
  return "killed by signal " .. sig .. (sig == 14 and " (hung: SIGALRM)" or "")
end

-- reap waits for pid; with nohang, returns nil while it still runs.
-- Returns true if it exited with status 0.
local status = ffi.new("int[1]")
local function reap(pid, nohang)
  local got = C.waitpid(pid, status, nohang and WNOHANG or 0)
  if got == 0 then return nil end
  if got ~= pid then
    io.stderr:write("waitpid(" .. pid .. ") failed\n")
    return false
  end
  local why = describe(status[0])
  if why then io.stderr:write("process " .. pid .. ": " .. why .. "\n") end
  return why == nil
end

-- child runs body in a forked process (row `row`) and never returns: it
-- leaves by _exit, so Lua's exit path (and the atexit handlers it shares
-- with the parent) runs once, in the parent only.
local function child(row, body)
  me = row
  C.alarm(60) -- alarms are not inherited: a hung child dies and is reported
  local ok, err = pcall(body)
  if not ok then
    io.stderr:write(string.format("pid %d: %s\n", C.getpid(), tostring(err)))
    board[me].errors = board[me].errors + 1
  end
  io.stderr:flush()
  C._exit(ok and 0 or 1)
end

-- nest: a worker forks the next level first (until NESTED levels), then
-- works, then reaps its child.
local function nest(level)
  local pid = -1
  if level < NESTED then
    io.stdout:flush()
    pid = C.fork()
    if pid == 0 then child(WORKERS + level - 1, function() nest(level + 1) end) end
    if pid < 0 then fail("fork (nested)", ffi.errno()) end
  end
  work()
  if pid > 0 and not reap(pid) then board[me].errors = board[me].errors + 1 end
end

-- read_pairs: the mean cost of n uncontended try_acquire_read/release pairs
-- on l, in ns; nil after an error.
local function read_pairs(l, n)
  local t0 = now_ns()
  for _ = 1, n do
    local rc = P.prw_try_acquire_read(l)
    if rc ~= 0 then return fail("try_acquire_read", rc) end
    rc = P.prw_release(l)
    if rc ~= 0 then return fail("release read", rc) end
  end
  return (now_ns() - t0) / n
end

-- The test: 4 workers, one nesting 3 deep, against the parent.
local function prefork()
  -- The parent uses the lock before it forks.
  if not read_pairs(L, 1000) then return false end
  round_trip(L)

  local pids = {}
  for w = 0, WORKERS - 1 do
    io.stdout:flush()
    local pid = C.fork()
    if pid == 0 then
      child(w, function() if w == 0 then nest(1) else work() end end)
    end
    if pid < 0 then
      fail("fork", ffi.errno())
      break
    end
    pids[#pids + 1] = pid
  end

  -- The parent keeps acquiring until every worker is done.
  local running, bad, done = #pids, 0, {}
  while running > 0 do
    round_trip(L)
    for i, pid in ipairs(pids) do
      if not done[i] then
        local r = reap(pid, true)
        if r ~= nil then
          done[i], running = true, running - 1
          if not r then bad = bad + 1 end
        end
      end
    end
  end

  local errors, violations, ops, idle = bad + WORKERS - #pids, 0, {}, 0
  for p = 0, PROCS do
    errors = errors + board[p].errors
    violations = violations + board[p].violations
    ops[#ops + 1] = (tostring(board[p].ops):gsub("LL$", ""))
    if board[p].ops == 0 then
      io.stderr:write("process row " .. p .. " made no round trip\n")
      idle = idle + 1
    end
  end
  local info = ffi.new("prw_info_t")
  local rc = P.prw_info(L, info)
  if rc ~= 0 then
    fail("prw_info", rc)
    errors = errors + 1
  elseif info.used_slots ~= 0 or info.owner_dead ~= 0 then
    io.stderr:write(string.format("after the run: used_slots %d, owner_dead %d\n",
      info.used_slots, info.owner_dead))
    errors = errors + 1
  end
  print(string.format("prefork (luajit): %d processes (%d forked without exec, %d levels deep), "
    .. "round trips per process (workers, nested, parent): %s; %d errors, %d violations",
    PROCS + 1, PROCS, NESTED, table.concat(ops, " "), errors, violations))
  return errors == 0 and violations == 0 and idle == 0
end

-- --measure: children forked one at a time, nothing else running on the lock.
local function measure(n)
  local pair = read_pairs(L, 100000)
  if not pair then return false end
  local firsts, engines = {}, {}
  for k = 1, n do
    io.stdout:flush()
    local pid = C.fork()
    if pid == 0 then
      child(0, function()
        local t0 = now_ns()
        local rc = P.prw_try_acquire_read(L)
        if rc == 0 then rc = P.prw_release(L) end
        board[0].first_ns = now_ns() - t0
        if rc ~= 0 then fail("first call on the inherited handle", rc) end
        if copy_loaded() then fail("the first data-plane call loaded the private copy") end
        local info = ffi.new("prw_info_t")
        t0 = now_ns()
        rc = P.prw_info(L, info)
        board[0].engine_ns = now_ns() - t0
        if rc ~= 0 then fail("prw_info in the child", rc) end
      end)
    end
    if pid < 0 or not reap(pid) or board[0].errors ~= 0 then return false end
    firsts[k], engines[k] = tonumber(board[0].first_ns), tonumber(board[0].engine_ns)
  end
  table.sort(firsts)
  table.sort(engines)
  local function med(t) return t[math.floor((#t + 1) / 2)] end
  print(string.format("measure (luajit, %d children one at a time): child's first call on an "
    .. "inherited handle (try_acquire_read + release) median %.1f us, max %.1f us; "
    .. "first call that needs the engine (prw_info) median %.2f ms, max %.2f ms; "
    .. "parent's read pair (100k try_acquire_read/release) %.1f ns",
    n, med(firsts) / 1e3, firsts[n] / 1e3, med(engines) / 1e6, engines[n] / 1e6, pair))
  return true
end

-- The parent.
C.alarm(120)
local out = ffi.new("prw_lock *[1]")
local rc = P.prw_open(name, PRW_CREATE + PRW_EXCL, tonumber("600", 8), out)
if rc ~= 0 then
  fail("prw_open create", rc)
  os.exit(1)
end
L = out[0]
local ok, res = pcall(measure_n and function() return measure(measure_n) end or prefork)
if not ok then io.stderr:write(tostring(res) .. "\n") end
rc = P.prw_close(L)
if rc ~= 0 then fail("prw_close", rc) end
local urc = P.prw_unlink(name)
if urc ~= 0 then fail("prw_unlink", urc) end
C.munmap(mem, ffi.sizeof("row_t") * nrows)
os.exit((ok and res and rc == 0 and urc == 0) and 0 or 1)
