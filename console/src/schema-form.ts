import { h } from './dom.js';

/** The part of JSON Schema (draft 06, as the official OCPP schemas use it) that the form understands. */
export interface Schema {
  $ref?: string;
  type?: string;
  enum?: string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  description?: string;
  definitions?: Record<string, Schema>;
  maxLength?: number;
  minItems?: number;
}

type Value = null | boolean | number | string | Value[] | { [key: string]: Value };

/** A form field that yields its part of the payload, or undefined when left empty. */
interface Field {
  element: HTMLElement;
  value(): Value | undefined;
}

const MAX_DEPTH = 6;
let nextId = 0;

/**
 * A form generated from an action's official request schema: objects are fieldsets, enums are selects, strings,
 * numbers and booleans are inputs, arrays start with one item and can grow. Empty optional fields are left out of
 * the payload, so what is sent is exactly what was filled in. `customData` (vendor extensions) is not offered.
 */
export function schemaForm(root: Schema, onInput: () => void): { element: HTMLElement; value(): Value } {
  const definitions = root.definitions ?? {};
  const resolve = (schema: Schema): Schema => {
    let current = schema;
    for (let i = 0; current.$ref !== undefined && i < 10; i++) {
      const name = current.$ref.replace('#/definitions/', '');
      current = { ...(definitions[name] ?? {}), ...(current.description !== undefined ? { description: current.description } : {}) };
    }
    return current;
  };

  const build = (name: string, raw: Schema, required: boolean, depth: number): Field => {
    const schema = resolve(raw);
    const id = `f${++nextId}`;
    const label = h('label', { for: id }, name, required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : '');
    if (schema.type === 'object' && depth < MAX_DEPTH) {
      const fields = Object.entries(schema.properties ?? {})
        .filter(([key]) => key !== 'customData')
        .map(([key, inner]) => [key, build(key, inner, (schema.required ?? []).includes(key), depth + 1)] as const);
      const element = h('fieldset', { class: 'schema-object' }, h('legend', {}, name, required ? ' *' : ''), ...fields.map(([, field]) => field.element));
      return {
        element,
        value: () => {
          const out: Record<string, Value> = {};
          for (const [key, field] of fields) {
            const v = field.value();
            if (v !== undefined) out[key] = v;
          }
          return Object.keys(out).length === 0 && !required ? undefined : out;
        },
      };
    }
    if (schema.type === 'array' && schema.items !== undefined && depth < MAX_DEPTH) {
      const items: Field[] = [];
      const list = h('div', { class: 'schema-array' });
      const add = (): void => {
        const field = build(`${name}[${items.length}]`, schema.items as Schema, false, depth + 1);
        items.push(field);
        list.appendChild(field.element);
      };
      add();
      const element = h(
        'fieldset',
        { class: 'schema-list' },
        h('legend', {}, name, required ? ' *' : ''),
        list,
        h(
          'button',
          {
            type: 'button',
            class: 'link',
            onclick: () => {
              add();
              onInput();
            },
          },
          `Add to ${name}`,
        ),
      );
      return {
        element,
        value: () => {
          const values = items.map((f) => f.value()).filter((v): v is Value => v !== undefined);
          return values.length === 0 && !required ? undefined : values;
        },
      };
    }
    if (schema.enum !== undefined) {
      const select = h('select', { id }, h('option', { value: '' }, required ? 'choose…' : '(not sent)'), ...schema.enum.map((v) => h('option', { value: v }, v)));
      return { element: h('div', { class: 'field' }, label, select), value: () => (select.value === '' ? undefined : select.value) };
    }
    if (schema.type === 'boolean') {
      const select = h('select', { id }, h('option', { value: '' }, '(not sent)'), h('option', { value: 'true' }, 'true'), h('option', { value: 'false' }, 'false'));
      return { element: h('div', { class: 'field' }, label, select), value: () => (select.value === '' ? undefined : select.value === 'true') };
    }
    if (schema.type === 'integer' || schema.type === 'number') {
      const input = h('input', { id, type: 'number', step: schema.type === 'integer' ? '1' : 'any' });
      return { element: h('div', { class: 'field' }, label, input), value: () => (input.value === '' ? undefined : Number(input.value)) };
    }
    if (schema.type === 'string') {
      const input = h('input', { id, type: 'text', ...(schema.maxLength !== undefined ? { maxlength: schema.maxLength } : {}) });
      return { element: h('div', { class: 'field' }, label, input), value: () => (input.value === '' ? undefined : input.value) };
    }
    // Deeper than the form goes, or a shape it does not know: JSON typed by hand.
    const area = h('textarea', { id, rows: 3, placeholder: 'JSON' });
    return {
      element: h('div', { class: 'field' }, label, area),
      value: () => {
        if (area.value.trim() === '') return undefined;
        try {
          return JSON.parse(area.value) as Value;
        } catch {
          return area.value;
        }
      },
    };
  };

  const top = build('request', root, true, 0);
  top.element.addEventListener('input', onInput);
  top.element.addEventListener('change', onInput);
  return { element: top.element, value: () => top.value() ?? {} };
}
