// Human byte counts for reasons a person reads in `failover status`.

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

/** 1536n -> '1.5 KiB', 50331648n -> '48 MiB', 12n -> '12 B'. */
export function formatBytes(bytes: bigint): string {
  const sign = bytes < 0n ? '-' : '';
  let magnitude = bytes < 0n ? -bytes : bytes;
  if (magnitude < 1024n) return `${sign}${magnitude} B`;
  let unit = 0;
  // Integer division keeps precision for huge values; one decimal is enough for a person.
  while (magnitude >= 1024n * 1024n && unit < UNITS.length - 1) {
    magnitude /= 1024n;
    unit++;
  }
  const tenths = Number((magnitude * 10n) / 1024n);
  const whole = Math.floor(tenths / 10);
  const fraction = tenths % 10;
  return `${sign}${whole}${fraction === 0 ? '' : `.${fraction}`} ${UNITS[unit]}`;
}
