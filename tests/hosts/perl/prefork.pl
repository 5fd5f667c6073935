#!/usr/bin/perl
# The prefork pattern from a Perl host through FFI::Platypus
# (tests/c/test_prefork.c in C, tests/hosts/luajit/prefork.lua in LuaJIT).
#
#   perl tests/hosts/perl/prefork.pl [LIBPRWLOCK] [--measure [N]]
#   LIBPRWLOCK: path of libprwlock.so (default: $PRWLOCK_LIBRARY)
#
# The parent opens a named lock and uses it, then forks 4 workers (fork, no
# exec); worker 0 forks a child that forks a child (3 levels below the
# parent). Every worker uses the inherited handle for reading and writing
# while the parent keeps acquiring, then opens the lock anew by name and uses
# that handle too. An invariant in shared memory is checked inside every
# critical section. Exits non-zero on any error, violation, failed or idle
# process, after a one-line summary.
#
# --measure N (not a test; no timing is ever asserted) prints instead, for N
# children forked one after another without contention: the first call on an
# inherited handle (a try_acquire_read and its release, as bench_fork does in
# C), the first call that needs the engine (prw_info, which loads the
# library's private copy), and the parent's uncontended read pair (100k
# try_acquire_read/release).
use strict;
use warnings;

use FFI::Platypus 2.00;
use FFI::Platypus::Buffer qw(window);
use POSIX qw(WNOHANG);
use Time::HiRes qw(clock_gettime CLOCK_MONOTONIC);

package PrwInfo {
  use FFI::Platypus::Record;
  record_layout_1(
    uint32 => 'readers',         uint32 => 'writer_pid',
    uint32 => 'writer_tid',      uint32 => 'writer_active',
    uint32 => 'waiting_readers', uint32 => 'waiting_writers',
    uint32 => 'capacity',        uint32 => 'used_slots',
    uint32 => 'attached',        uint32 => 'owner_dead',
    uint64 => 'recoveries',      uint64 => 'owner_deaths',
  );
}

use constant {
  PRW_CREATE => 1, PRW_EXCL => 2, EBUSY => 16,
  PROT_RW => 3, MAP_SHARED_ANON => 0x01 | 0x20,
  WORKERS => 4, NESTED => 3,
  TIMEOUT_NS => 20_000_000_000,  # a wait this long is a hang
  INHERITED_S => 0.6, OWN_S => 0.3,
};
use constant PROCS => WORKERS + NESTED - 1;  # forked processes; row PROCS is the parent

my ($libpath, $measure_n) = ($ENV{PRWLOCK_LIBRARY}, undef);
while (@ARGV) {
  my $a = shift @ARGV;
  if ($a eq '--measure') {
    $measure_n = (@ARGV && $ARGV[0] =~ /^\d+$/) ? shift @ARGV : 20;
  } else {
    $libpath = $a;
  }
}
die "usage: perl prefork.pl LIBPRWLOCK [--measure [N]] (or PRWLOCK_LIBRARY)\n"
  unless defined $libpath && length $libpath;

my $ffi = FFI::Platypus->new(api => 2, lib => [$libpath]);
$ffi->type('opaque' => 'prw_lock');
$ffi->type('record(PrwInfo)*' => 'prw_info_t');
$ffi->attach(prw_open => ['string', 'int', 'uint', 'opaque*'] => 'int');
$ffi->attach(prw_close => ['prw_lock'] => 'int');
$ffi->attach(prw_unlink => ['string'] => 'int');
$ffi->attach(prw_acquire_read => ['prw_lock', 'sint64'] => 'int');
$ffi->attach(prw_acquire_write => ['prw_lock', 'sint64'] => 'int');
$ffi->attach(prw_try_acquire_read => ['prw_lock'] => 'int');
$ffi->attach(prw_release => ['prw_lock'] => 'int');
$ffi->attach(prw_info => ['prw_lock', 'prw_info_t'] => 'int');
$ffi->attach(prw_strerror => ['int'] => 'string');

my $libc = FFI::Platypus->new(api => 2, lib => [undef]);
$libc->attach(mmap => ['opaque', 'size_t', 'int', 'int', 'int', 'sint64'] => 'opaque');
$libc->attach(munmap => ['opaque', 'size_t'] => 'int');
# poke stores bytes at an address: Perl has no store through a pointer.
$libc->attach([memcpy => 'poke'] => ['opaque', 'string', 'size_t'] => 'opaque');

sub now_ns { return clock_gettime(CLOCK_MONOTONIC) * 1e9 }

# The board: one 64-byte row per process, written only by that process, so
# no atomics are needed; aligned 32/64-bit stores are single-copy atomic on
# the platforms we run. Row: int32 writing, reading, violations, errors;
# int64 ops (round trips), first_ns, engine_ns (--measure); padding. It is
# an anonymous shared mapping, inherited by every fork child; $view is a
# read-only Perl string over it, so unpack reads the live memory.
use constant { ROW => 64, WRITING => 0, READING => 4, VIOLATIONS => 8, ERRORS => 12,
               OPS => 16, FIRST_NS => 24, ENGINE_NS => 32 };
my $size = ROW * (PROCS + 1);
my $mem = mmap(undef, $size, PROT_RW, MAP_SHARED_ANON, -1, 0);
die "mmap failed\n" if !defined $mem || $mem == ~0;
window(my $view, $mem, $size);
my $me = PROCS;  # this process's row

sub get32 { my ($row, $f) = @_; return unpack('l', substr($view, $row * ROW + $f, 4)) }
sub get64 { my ($row, $f) = @_; return unpack('q', substr($view, $row * ROW + $f, 8)) }
sub set32 { my ($f, $v) = @_; poke($mem + $me * ROW + $f, pack('l', $v), 4) }
sub set64 { my ($f, $v) = @_; poke($mem + $me * ROW + $f, pack('q', $v), 8) }
sub bump  { my ($f) = @_; set32($f, get32($me, $f) + 1) }

# fail counts an error of this process; $rc is the call's result, if any.
sub fail {
  my ($what, $rc) = @_;
  my $msg = defined $rc ? sprintf(' = %d (%s)', $rc, prw_strerror($rc)) : '';
  print STDERR "pid $$: $what$msg\n";
  bump(ERRORS);
  return;
}

# dwell stays inside the critical section for a while, long enough for our
# flag to be visible to the others before we look at theirs.
sub dwell { clock_gettime(CLOCK_MONOTONIC) for 1 .. 4 }

# others_inside: whether another process is in a write hold (or, with
# $readers_too, in a read hold) right now.
sub others_inside {
  my ($readers_too) = @_;
  for my $p (0 .. PROCS) {
    next if $p == $me;
    return 1 if get32($p, WRITING) || ($readers_too && get32($p, READING));
  }
  return 0;
}

# One write and one read critical section on $l, checking the invariant.
sub round_trip {
  my ($l) = @_;
  my $rc = prw_acquire_write($l, TIMEOUT_NS);
  return fail('acquire_write', $rc) if $rc;
  set32(WRITING, 1);
  dwell();
  bump(VIOLATIONS) if others_inside(1);
  set32(WRITING, 0);
  $rc = prw_release($l);
  return fail('release write', $rc) if $rc;

  $rc = prw_acquire_read($l, TIMEOUT_NS);
  return fail('acquire_read', $rc) if $rc;
  set32(READING, 1);
  dwell();
  bump(VIOLATIONS) if others_inside(0);
  set32(READING, 0);
  $rc = prw_release($l);
  return fail('release read', $rc) if $rc;
  set64(OPS, get64($me, OPS) + 1);
  return;
}

# copy_loaded: whether the library's private copy (loaded in a fork child by
# the calls that need the engine) is mapped in this process.
sub copy_loaded {
  open(my $f, '<', '/proc/self/maps') or return 0;
  local $/;
  my $maps = <$f>;
  close $f;
  return index($maps, 'libprwlock-fork-copy') >= 0;
}

my $name = sprintf('pltest.prefork.%d.%d', $$, now_ns() % 1e9);
my $L;  # opened by the parent, inherited by every worker

# A worker: the inherited handle, then a handle of its own.
sub work {
  # The first call on the inherited handle runs in C on the shared memory:
  # it must work at once and load nothing. EBUSY is fine (the parent may
  # hold the lock for writing).
  my $rc = prw_try_acquire_read($L);
  if ($rc == 0) {
    $rc = prw_release($L);
    fail('release after the first call', $rc) if $rc;
  } elsif ($rc != EBUSY) {
    fail('first try_acquire_read in the child', $rc);
  }
  fail('the first data-plane call loaded the private copy') if copy_loaded();

  my $stop = now_ns() + INHERITED_S * 1e9;
  round_trip($L) while now_ns() < $stop;

  my $mine;
  $rc = prw_open($name, 0, 0, \$mine);
  if ($rc) {
    fail('prw_open in the worker', $rc);
  } else {
    $stop = now_ns() + OWN_S * 1e9;
    round_trip($mine) while now_ns() < $stop;
    $rc = prw_close($mine);
    fail("close of the worker's own handle", $rc) if $rc;
  }
  $rc = prw_close($L);
  fail('close of the inherited handle', $rc) if $rc;
  return;
}

# reap waits for $pid; with $nohang, returns undef while it still runs.
# Returns 1 if it exited with status 0.
sub reap {
  my ($pid, $nohang) = @_;
  my $got = waitpid($pid, $nohang ? WNOHANG : 0);
  return undef if $got == 0;
  if ($got != $pid) {
    print STDERR "waitpid($pid) failed: $!\n";
    return 0;
  }
  my $st = $?;
  return 1 if $st == 0;
  my $sig = $st & 0x7f;
  my $why = $sig ? "killed by signal $sig" . ($sig == 14 ? ' (hung: SIGALRM)' : '')
                 : 'exit status ' . ($st >> 8);
  print STDERR "process $pid: $why\n";
  return 0;
}

# child runs $body in a forked process (row $row) and never returns: it
# leaves by _exit, so Perl's exit path (END blocks, destructors, the atexit
# handlers it shares with the parent) runs once, in the parent only.
sub child {
  my ($row, $body) = @_;
  $me = $row;
  alarm 60;  # alarms are not inherited: a hung child dies and is reported
  my $ok = eval { $body->(); 1 };
  if (!$ok) {
    print STDERR "pid $$: $@";
    bump(ERRORS);
  }
  POSIX::_exit($ok ? 0 : 1);
}

# nest: a worker forks the next level first (until NESTED levels), then
# works, then reaps its child.
sub nest {
  my ($level) = @_;
  my $pid = -1;
  if ($level < NESTED) {
    $pid = fork;
    if (!defined $pid) {
      fail("fork (nested): $!");
      $pid = -1;
    } elsif ($pid == 0) {
      child(WORKERS + $level - 1, sub { nest($level + 1) });
    }
  }
  work();
  bump(ERRORS) if $pid > 0 && !reap($pid);
  return;
}

# read_pairs: the mean cost of $n uncontended try_acquire_read/release pairs
# on $l, in ns; undef after an error.
sub read_pairs {
  my ($l, $n) = @_;
  my $t0 = now_ns();
  for (1 .. $n) {
    my $rc = prw_try_acquire_read($l);
    return fail('try_acquire_read', $rc) if $rc;
    $rc = prw_release($l);
    return fail('release read', $rc) if $rc;
  }
  return (now_ns() - $t0) / $n;
}

# The test: 4 workers, one nesting 3 deep, against the parent.
sub prefork {
  # The parent uses the lock before it forks.
  return 0 unless defined read_pairs($L, 1000);
  round_trip($L);

  my @pids;
  for my $w (0 .. WORKERS - 1) {
    my $pid = fork;
    if (!defined $pid) {
      fail("fork: $!");
      last;
    }
    child($w, sub { $w == 0 ? nest(1) : work() }) if $pid == 0;
    push @pids, $pid;
  }

  # The parent keeps acquiring until every worker is done.
  my ($bad, %running) = (0, map { $_ => 1 } @pids);
  while (%running) {
    round_trip($L);
    for my $pid (keys %running) {
      my $r = reap($pid, 1);
      next unless defined $r;
      delete $running{$pid};
      $bad++ unless $r;
    }
  }

  my ($errors, $violations, $idle, @ops) = ($bad + WORKERS - @pids, 0, 0);
  for my $p (0 .. PROCS) {
    $errors += get32($p, ERRORS);
    $violations += get32($p, VIOLATIONS);
    push @ops, get64($p, OPS);
    if (!$ops[-1]) {
      print STDERR "process row $p made no round trip\n";
      $idle++;
    }
  }
  my $info = PrwInfo->new;
  my $rc = prw_info($L, $info);
  if ($rc) {
    fail('prw_info', $rc);
    $errors++;
  } elsif ($info->used_slots || $info->owner_dead) {
    printf STDERR "after the run: used_slots %d, owner_dead %d\n", $info->used_slots, $info->owner_dead;
    $errors++;
  }
  printf "prefork (perl): %d processes (%d forked without exec, %d levels deep), "
    . "round trips per process (workers, nested, parent): %s; %d errors, %d violations\n",
    PROCS + 1, PROCS, NESTED, "@ops", $errors, $violations;
  return $errors == 0 && $violations == 0 && $idle == 0;
}

# --measure: children forked one at a time, nothing else running on the lock.
sub measure {
  my ($n) = @_;
  my $pair = read_pairs($L, 100_000);
  return 0 unless defined $pair;
  my (@firsts, @engines);
  for (1 .. $n) {
    my $pid = fork;
    return fail("fork: $!") || 0 unless defined $pid;
    if ($pid == 0) {
      child(0, sub {
        my $t0 = now_ns();
        my $rc = prw_try_acquire_read($L);
        $rc = prw_release($L) if $rc == 0;
        set64(FIRST_NS, now_ns() - $t0);
        fail('first call on the inherited handle', $rc) if $rc;
        fail('the first data-plane call loaded the private copy') if copy_loaded();
        my $info = PrwInfo->new;
        $t0 = now_ns();
        $rc = prw_info($L, $info);
        set64(ENGINE_NS, now_ns() - $t0);
        fail('prw_info in the child', $rc) if $rc;
      });
    }
    return 0 unless reap($pid) && get32(0, ERRORS) == 0;
    push @firsts, get64(0, FIRST_NS);
    push @engines, get64(0, ENGINE_NS);
  }
  @firsts = sort { $a <=> $b } @firsts;
  @engines = sort { $a <=> $b } @engines;
  my $med = sub { $_[0][int(($#{ $_[0] }) / 2)] };
  printf "measure (perl, %d children one at a time): child's first call on an inherited handle "
    . "(try_acquire_read + release) median %.1f us, max %.1f us; first call that needs the engine "
    . "(prw_info) median %.2f ms, max %.2f ms; parent's read pair (100k try_acquire_read/release) "
    . "%.1f ns\n", $n, $med->(\@firsts) / 1e3, $firsts[-1] / 1e3, $med->(\@engines) / 1e6,
    $engines[-1] / 1e6, $pair;
  return 1;
}

# The parent.
alarm 120;
my $rc = prw_open($name, PRW_CREATE | PRW_EXCL, 0600, \$L);
if ($rc) {
  fail('prw_open create', $rc);
  exit 1;
}
my $ok = eval { defined $measure_n ? measure($measure_n) : prefork() };
print STDERR $@ unless defined $ok;
$rc = prw_close($L);
fail('prw_close', $rc) if $rc;
my $urc = prw_unlink($name);
fail('prw_unlink', $urc) if $urc;
munmap($mem, $size);
exit(($ok && !$rc && !$urc) ? 0 : 1);
