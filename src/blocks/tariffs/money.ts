/**
 * Exact arithmetic for money (CONTRACT §8.4): every amount is a fraction of two BigInts, so sums and products of
 * decimal prices, watt-hours and milliseconds are exact; rounding happens once, at the end, half-up to the
 * currency's minor unit. Never a binary float on the way.
 */

/** CONTRACT §8.4: digits with an optional fraction; no sign, exponent, comma or empty string. */
const MONEY = /^[0-9]+(\.[0-9]+)?$/;

export class InvalidAmountError extends Error {
  constructor(readonly text: string) {
    super(`not a decimal amount: ${JSON.stringify(text)}`);
    this.name = 'InvalidAmountError';
  }
}

function gcd(a: bigint, b: bigint): bigint {
  let x = a < 0n ? -a : a;
  let y = b;
  while (y !== 0n) [x, y] = [y, x % y];
  return x;
}

/** An exact rational number; `den` is always positive and the fraction reduced. */
export class Exact {
  static readonly ZERO = new Exact(0n, 1n);

  private constructor(
    readonly num: bigint,
    readonly den: bigint,
  ) {}

  static of(num: bigint, den = 1n): Exact {
    if (den === 0n) throw new RangeError('division by zero');
    const sign = den < 0n ? -1n : 1n;
    const divisor = gcd(num, den) || 1n;
    return new Exact((sign * num) / divisor, (sign * den) / divisor);
  }

  /** A money value as the API takes it (`"0.35"`, `"12"`). Throws InvalidAmountError for anything else. */
  static parseMoney(text: string): Exact {
    if (!MONEY.test(text)) throw new InvalidAmountError(text);
    return Exact.parseDecimal(text);
  }

  /** A plain decimal with an optional sign, fraction and exponent (`-1.5`, `6e3`, `1.25E-2`). */
  static parseDecimal(text: string): Exact {
    const match = /^([+-]?)([0-9]+)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?$/.exec(text) ?? /^([+-]?)()\.([0-9]+)(?:[eE]([+-]?[0-9]+))?$/.exec(text);
    if (match === null) throw new InvalidAmountError(text);
    const [, sign = '', whole = '', fraction = '', exponentText = '0'] = match;
    const exponent = Number(exponentText) - fraction.length;
    const digits = BigInt(`${whole}${fraction}` || '0') * (sign === '-' ? -1n : 1n);
    return exponent >= 0 ? Exact.of(digits * 10n ** BigInt(exponent)) : Exact.of(digits, 10n ** BigInt(-exponent));
  }

  /**
   * The decimal a station meant by a JSON number: its shortest round-trip form (what JSON.parse read), not the
   * binary double's full expansion. 0.1 is exactly 1/10 here.
   */
  static fromNumber(value: number): Exact {
    if (!Number.isFinite(value)) throw new InvalidAmountError(String(value));
    return Exact.parseDecimal(String(value));
  }

  add(other: Exact): Exact {
    return Exact.of(this.num * other.den + other.num * this.den, this.den * other.den);
  }

  sub(other: Exact): Exact {
    return Exact.of(this.num * other.den - other.num * this.den, this.den * other.den);
  }

  mul(other: Exact): Exact {
    return Exact.of(this.num * other.num, this.den * other.den);
  }

  div(other: Exact): Exact {
    return Exact.of(this.num * other.den, this.den * other.num);
  }

  compare(other: Exact): number {
    const diff = this.num * other.den - other.num * this.den;
    return diff < 0n ? -1 : diff > 0n ? 1 : 0;
  }

  isNegative(): boolean {
    return this.num < 0n;
  }

  /**
   * Rounded half-up (away from zero on a tie, for negative amounts too) to `digits` decimals, as a string with
   * exactly that many: `roundHalfUp(2)` of 1/8 is "0.13".
   */
  roundHalfUp(digits: number): string {
    const scale = 10n ** BigInt(digits);
    const magnitude = this.num < 0n ? -this.num : this.num;
    const scaled = (2n * magnitude * scale + this.den) / (2n * this.den);
    const negative = this.num < 0n && scaled !== 0n;
    const text = scaled.toString().padStart(digits + 1, '0');
    const whole = digits === 0 ? text : text.slice(0, -digits);
    const fraction = digits === 0 ? '' : `.${text.slice(-digits)}`;
    return `${negative ? '-' : ''}${whole}${fraction}`;
  }
}

/**
 * ISO 4217 minor units of the currencies that do not have two; every other code has two. (The list is short
 * and stable; a CSMS that bills in one of these must not invent cents.)
 */
const MINOR_UNITS: Readonly<Record<string, number>> = {
  BHD: 3,
  BIF: 0,
  CLF: 4,
  CLP: 0,
  DJF: 0,
  GNF: 0,
  IQD: 3,
  ISK: 0,
  JOD: 3,
  JPY: 0,
  KMF: 0,
  KRW: 0,
  KWD: 3,
  LYD: 3,
  OMR: 3,
  PYG: 0,
  RWF: 0,
  TND: 3,
  UGX: 0,
  UYI: 0,
  UYW: 4,
  VND: 0,
  VUV: 0,
  XAF: 0,
  XOF: 0,
  XPF: 0,
};

export function minorUnits(currency: string): number {
  return MINOR_UNITS[currency] ?? 2;
}
