// @vitest-environment jsdom
// The thinking disclosure and the usage line as rendered.

import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, fireEvent, render } from '@testing-library/react';
import { Thinking, UsageLine } from './ModelCall';
import type { UsageData } from '../api/types';

afterEach(cleanup);

describe('Thinking', () => {
  it('is collapsed unless asked, and says when it is still streaming', () => {
    const toggled: boolean[] = [];
    const stored = render(<Thinking text={'Look first.\n\nThen list.'} open={false} onToggle={(o) => toggled.push(o)} />);
    const details = stored.getByTestId('thinking') as HTMLDetailsElement;
    expect(details.open).toBe(false);
    expect(details.querySelector('summary')?.textContent).toBe('Thinking');
    expect(details.textContent).toContain('Then list.');
    details.open = true;
    fireEvent(details, new Event('toggle'));
    expect(toggled).toEqual([true]);
    cleanup();

    const live = render(<Thinking text="Look" live active open={false} onToggle={() => {}} />);
    const block = live.getByTestId('thinking-live') as HTMLDetailsElement;
    expect(block.open).toBe(false);
    expect(block.querySelector('summary')?.textContent).toBe('Thinking…');
    expect(block.querySelector('summary .motion-safe\\:animate-pulse')).not.toBeNull();
    live.rerender(<Thinking text="Look" live open={false} onToggle={() => {}} />);
    expect(block.querySelector('summary .motion-safe\\:animate-pulse')).toBeNull();
  });
});

describe('UsageLine', () => {
  const usage: UsageData = {
    provider: 'scripted',
    model: 'scripted',
    input_tokens: 1000,
    output_tokens: 200,
    cached_tokens: 400,
    cost_usd: 0.0012,
    duration_ms: 850,
    attempts: 1,
    price_known: true,
    reasoning_tokens: 150,
  };

  it('has a failover line only when failover served the call, with the breaker’s words as its title', () => {
    const plain = render(<UsageLine usage={usage} />);
    expect(plain.getByTestId('usage-line').textContent).toContain('/ 200 out (150 reasoning)');
    expect(plain.queryByTestId('usage-failover')).toBeNull();
    cleanup();
    const message = 'its circuit is open after 3 failed calls in a row; it is tried again in 9000 ms';
    const served = render(<UsageLine usage={{ ...usage, failover: [{ provider: 'openai', model: 'gpt-5', why: 'circuit_open', message }] }} />);
    const line = served.getByTestId('usage-failover');
    expect(line.textContent).toBe('↪ served by scripted/scripted after openai/gpt-5 was passed over: circuit open');
    expect(line.getAttribute('title')).toBe(`openai/gpt-5: ${message}`);
  });
});
