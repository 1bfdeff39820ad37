import { describe, expect, it } from 'vitest';
import { containerStateAfter } from '../../../src/agent/container-events.js';

// What a Docker event says about a container. Docker sends `oom` when any process in
// the container is OOM-killed, a single backend's sort included, while the postmaster
// lives on: that is not death (issue 12, item 9). If the container does die, `die` follows.
describe('containerStateAfter', () => {
  it.each([
    ['die', 'exited'],
    ['destroy', 'missing'],
    ['pause', 'paused'],
    ['unpause', 'running'],
    ['start', 'running'],
  ])('%s means %s', (action, state) => expect(containerStateAfter(action)).toBe(state));

  it.each(['oom', 'exec_start', 'health_status: healthy', 'kill'])('%s says nothing about whether it runs', (action) => {
    expect(containerStateAfter(action)).toBeNull();
  });
});
