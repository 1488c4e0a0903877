/**
 * On the benchmark's workloads, the simulator driving the scheduler with a slot index kept up to
 * date as slots change (as the dispatcher does) makes exactly the rounds it makes when given the
 * slots as an array each round: same decisions, idle slots, plans and wake-ups, same figures.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Scheduler } from '../../bench/scheduler/baselines.js';
import { simulate } from '../../bench/scheduler/simulator.js';
import { WORKLOADS, ciBurst, cloud, type Trace } from '../../bench/scheduler/workloads.js';
import { SlotIndex, scheduleRound, type SchedulerRound } from '../../coordinator/scheduler/index.js';

/** Runs the trace both ways; returns the rounds of each run and their figures. */
function both(trace: Trace) {
  const runs = [true, false].map((slotIndex) => {
    const rounds: SchedulerRound[] = [];
    let given = 0;
    const qgjob: Scheduler = (input) => {
      if (input.slots instanceof SlotIndex) given++;
      const r = scheduleRound(input);
      rounds.push(r);
      return r;
    };
    const result = simulate(trace, 'qgjob', qgjob, { slotIndex });
    return { rounds, given, result: { ...result, schedulerMs: 0 } };
  });
  return { indexed: runs[0]!, array: runs[1]! };
}

for (const make of WORKLOADS) {
  test(`${make({ smoke: true }).name} (smoke): the same rounds with the index as with arrays`, () => {
    const { indexed, array } = both(make({ smoke: true }));
    assert.is(indexed.given, indexed.rounds.length, 'every round got the index');
    assert.is(array.given, 0);
    assert.ok(indexed.rounds.length > 10);
    assert.equal(indexed.rounds, array.rounds);
    assert.equal(indexed.result, array.result);
  });
}

for (const trace of [ciBurst(), cloud()]) {
  test(`${trace.name} (full trace): the same rounds with the index as with arrays`, () => {
    const { indexed, array } = both(trace);
    assert.equal(indexed.rounds, array.rounds);
    assert.equal(indexed.result, array.result);
  });
}

test.run();
