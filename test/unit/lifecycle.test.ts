import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ScanState } from '../../lambda/contract';
import { isActive, LIFECYCLE, type LifecycleEvent, ON_START, transition } from '../../lambda/core/lifecycle';

const EVENTS: readonly LifecycleEvent[] = ['stop', 'settle', 'resume', 'complete', 'fail'];
const STATES = Object.keys(LIFECYCLE) as (keyof typeof LIFECYCLE)[];

describe('the scan lifecycle', () => {
  it("is the README's lifecycle table: each state's row names every state it can move to", () => {
    const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
    for (const state of STATES) {
      const row = readme.split('\n').find((line) => line.startsWith(`| \`${state}\` |`)) ?? '';
      const targets = new Set(
        EVENTS.map((event) => transition(state, event)).filter((to) => to !== null && to !== state),
      );
      for (const target of targets) expect(row, `${state} -> ${target}`).toContain(`(→ \`${target}\`)`);
      if (transition(state, 'stop') === state) expect(row).toContain(`(stays \`${state}\`)`);
    }
  });

  it('allows exactly the moves of its table, and refuses every other', () => {
    const moves = STATES.flatMap((state) =>
      EVENTS.map((event) => `${state} --${event}--> ${transition(state, event) ?? 'refused'}`),
    );
    expect(moves).toEqual([
      'RUNNING --stop--> STOPPING',
      'RUNNING --settle--> refused',
      'RUNNING --resume--> refused',
      'RUNNING --complete--> COMPLETED',
      'RUNNING --fail--> FAILED',
      'STOPPING --stop--> STOPPING',
      'STOPPING --settle--> STOPPED',
      'STOPPING --resume--> RUNNING',
      'STOPPING --complete--> COMPLETED',
      'STOPPING --fail--> FAILED',
      'STOPPED --stop--> STOPPED',
      'STOPPED --settle--> refused',
      'STOPPED --resume--> RUNNING',
      'STOPPED --complete--> refused',
      'STOPPED --fail--> refused',
      'COMPLETED --stop--> refused',
      'COMPLETED --settle--> refused',
      'COMPLETED --resume--> refused',
      'COMPLETED --complete--> refused',
      'COMPLETED --fail--> refused',
      'FAILED --stop--> refused',
      'FAILED --settle--> refused',
      'FAILED --resume--> RUNNING',
      'FAILED --complete--> refused',
      'FAILED --fail--> refused',
    ]);
    expect(transition(ScanState.idle, 'stop')).toBeNull();
  });

  it('reaches COMPLETED from every state that has chains at work, and leaves it by no move', () => {
    for (const state of STATES.filter(isActive)) expect(transition(state, 'complete')).toBe('COMPLETED');
    expect(Object.keys(LIFECYCLE.COMPLETED)).toEqual([]);
  });

  it('lets a plain start report a running scan, refuse a stopped one and replace an ended one', () => {
    expect(ON_START).toEqual({
      RUNNING: 'report',
      STOPPING: 'refuse',
      STOPPED: 'refuse',
      COMPLETED: 'replace',
      FAILED: 'replace',
    });
  });
});
