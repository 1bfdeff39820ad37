import { describe, expect, it } from 'vitest';
import { composeServiceOf, composeUpArgs } from '../../../src/drill/compose-service.js';

const labels = {
  'com.docker.compose.project': 'pg-failover',
  'com.docker.compose.service': 'pgsql',
  'com.docker.compose.project.working_dir': '/work/main',
  'com.docker.compose.project.config_files': 'compose.ha.yml',
  'pg-failover.lab': 'true',
};

describe('remove-primary: the compose service that creates the removed container again', () => {
  it('is read from the labels compose put on the container', () => {
    expect(composeServiceOf(labels)).toEqual({ project: 'pg-failover', service: 'pgsql', workingDir: '/work/main', configFiles: ['compose.ha.yml'] });
  });

  it('keeps every compose file, in order', () => {
    expect(composeServiceOf({ ...labels, 'com.docker.compose.project.config_files': '/w/compose.ha.yml, /w/override.yml' })?.configFiles).toEqual(['/w/compose.ha.yml', '/w/override.yml']);
  });

  it.each([
    ['no labels', undefined],
    ['not made by compose', { 'pg-failover.lab': 'true' }],
    ['no service', { ...labels, 'com.docker.compose.service': '' }],
    ['no working dir', { ...labels, 'com.docker.compose.project.working_dir': undefined as unknown as string }],
    ['no compose file', { ...labels, 'com.docker.compose.project.config_files': ' , ' }],
  ])('is null when the container says too little: %s', (_, given) => {
    expect(composeServiceOf(given)).toBeNull();
  });

  it('up creates that one service again, without touching its dependencies', () => {
    expect(composeUpArgs(composeServiceOf(labels)!)).toEqual(['-f', 'compose.ha.yml', '-p', 'pg-failover', 'up', '-d', '--no-deps', 'pgsql']);
  });
});
