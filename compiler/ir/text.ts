// The IR's textual form. Printing numbers nodes %0, %1, … in topological order; attributes are
// canonical JSON (sorted keys) and every line ends with its result type(s), so the text is both
// readable and exactly re-parseable: parse(print(g)) prints identically.
//
//   graph name {
//     %0 = param {"group":"embed","init":{"kind":"normal","std":0.02},"name":"tok_emb","shape":[64,8]} : f32[64,8]
//     %2 = embedding %0, %1 {} : f32[4,8]
//     %5 = router %4 {…} : (i32[4,2], f32[4,2], f32[4,4])
//     %6 = moe_dispatch %2, %5#0 {…} : (f32[8,8], i32[8], i32[5])
//     return loss = %9
//     return grad.w = %14 {"kind":"grad","param":"w"}
//   }
// An output with a role (types.ts OutputRole) carries it as canonical JSON after its value.
import { stableJson } from '../../base/stable-json.ts';
import { makeNode, out } from './build.ts';
import { graph, topoOrder } from './graph.ts';
import { IrError, inferTypes } from './infer.ts';
import type { Graph, Node, OpAttrs, OpName, OutputRole, TensorType, Value } from './types.ts';
import { formatType } from './types.ts';

export function printGraph(g: Graph): string {
  const ids = new Map<Node, number>();
  const ref = (v: Value): string => `%${ids.get(v.node)}${v.node.types.length > 1 ? `#${v.index}` : ''}`;
  const lines = [`graph ${g.name} {`];
  for (const node of topoOrder(g)) {
    ids.set(node, ids.size);
    const operands = node.inputs.map(ref).join(', ');
    const types = node.types.length === 1 ? formatType(node.types[0]) : `(${node.types.map(formatType).join(', ')})`;
    lines.push(`  %${ids.get(node)} = ${node.op}${operands ? ' ' + operands : ''} ${stableJson(node.attrs)} : ${types}`);
  }
  for (const [name, v] of Object.entries(g.outputs)) {
    const role = g.roles?.[name];
    lines.push(`  return ${name} = ${ref(v)}${role ? ` ${stableJson(role)}` : ''}`);
  }
  lines.push('}');
  return lines.join('\n') + '\n';
}

function parseType(text: string, where: string): TensorType {
  const m = /^(f32|i32)\[([0-9,]*)\]$/.exec(text.trim());
  if (!m) throw new IrError(`${where}: bad type '${text.trim()}'`);
  return { dtype: m[1] as TensorType['dtype'], shape: m[2] ? m[2].split(',').map(Number) : [] };
}

/** Parses the textual form; errors carry `file:line:col`-style locations (`<ir>:line`). */
export function parseGraph(text: string, file = '<ir>'): Graph {
  const lines = text.split('\n');
  const values = new Map<string, Node>();
  const outputs: Record<string, Value> = {};
  const roles: Record<string, OutputRole> = {};
  let name: string | undefined;
  const deref = (tok: string, where: string): Value => {
    const m = /^%(\d+)(?:#(\d+))?$/.exec(tok.trim());
    if (!m) throw new IrError(`${where}: expected a value like %3 or %3#1, got '${tok.trim()}'`);
    const node = values.get(m[1]);
    if (!node) throw new IrError(`${where}: %${m[1]} is used before it is defined`);
    return out(node, m[2] ? Number(m[2]) : 0);
  };
  lines.forEach((raw, i) => {
    const where = `${file}:${i + 1}`;
    const line = raw.trim();
    if (!line || line.startsWith('//') || line === '}') return;
    let m: RegExpExecArray | null;
    if ((m = /^graph\s+([\w.-]+)\s*\{$/.exec(line))) { name = m[1]; return; }
    if ((m = /^return\s+([\w.-]+)\s*=\s*(\S+)(?:\s+(\{.*\}))?$/.exec(line))) {
      outputs[m[1]] = deref(m[2], where);
      if (m[3]) roles[m[1]] = parseRole(m[3], where);
      return;
    }
    m = /^%(\d+)\s*=\s*([a-z_]+)\s*([^{]*?)\s*(\{.*\})\s*:\s*(.+)$/.exec(line);
    if (!m) throw new IrError(`${where}: expected '%N = op operands {attrs} : type'`);
    const [, id, op, operandText, attrText, typeText] = m;
    let attrs: unknown;
    try { attrs = JSON.parse(attrText); } catch { throw new IrError(`${where}: attributes are not valid JSON: ${attrText}`); }
    const inputs = operandText ? operandText.split(',').map((s) => deref(s, where)) : [];
    let node: Node;
    try {
      node = makeNode(op as OpName, inputs, attrs as OpAttrs[OpName]) as Node;
    } catch (e) {
      throw new IrError(`${where}: ${(e as Error).message}`);
    }
    const declared = typeText.trim().replace(/^\(|\)$/g, '').split(/,\s*(?=[fi]32\[)/).map((s) => parseType(s, where));
    const declaredText = declared.map(formatType).join(', ');
    const inferredText = node.types.map(formatType).join(', ');
    if (declaredText !== inferredText) throw new IrError(`${where}: declared type (${declaredText}) but ${op} produces (${inferredText})`);
    values.set(id, node);
  });
  if (!name) throw new IrError(`${file}: missing 'graph NAME {' header`);
  if (Object.keys(outputs).length === 0) throw new IrError(`${file}: graph has no 'return' line`);
  return graph(name, outputs, roles);
}

function parseRole(text: string, where: string): OutputRole {
  let role: unknown;
  try { role = JSON.parse(text); } catch { throw new IrError(`${where}: output role is not valid JSON: ${text}`); }
  const r = role as Partial<OutputRole> | null;
  if (r?.kind === 'grad' && typeof r.param === 'string' && Object.keys(r).length === 2) return { kind: 'grad', param: r.param };
  throw new IrError(`${where}: unknown output role ${text} (expected {"kind":"grad","param":NAME})`);
}

/** Re-checks every node's types against inference, and each gradient output against its param. Run after every pass in tests. */
export function verifyGraph(g: Graph): void {
  const names = new Map<string, Node>();
  for (const node of topoOrder(g)) {
    if (!Object.isFrozen(node)) throw new IrError(`${node.op} node is mutable: nodes must come from the factories`);
    const inferred = inferTypes(node.op, node.inputs.map((v) => v.node.types[v.index]), node.attrs as OpAttrs[OpName]);
    const a = inferred.map(formatType).join(', ');
    const b = node.types.map(formatType).join(', ');
    if (a !== b) throw new IrError(`${node.op}: stored types (${b}) disagree with inference (${a})`);
    for (const v of node.inputs) if (v.index >= v.node.types.length) throw new IrError(`${node.op}: operand refers to missing output #${v.index} of ${v.node.op}`);
    if (node.op === 'param' || node.op === 'input') {
      const other = names.get(node.attrs.name);
      if (other && other !== node) throw new IrError(`two ${node.op} nodes named '${node.attrs.name}'`);
      names.set(node.attrs.name, node);
    }
  }
  for (const [k, role] of Object.entries(g.roles ?? {})) {
    const p = names.get(role.param);
    if (p?.op !== 'param') throw new IrError(`output ${k} is the gradient of '${role.param}', which is no param of the graph`);
    const [want, got] = [formatType(p.types[0]), formatType(g.outputs[k].node.types[g.outputs[k].index])];
    if (want !== got) throw new IrError(`output ${k}: gradient of type ${got} for param '${role.param}' of type ${want}`);
  }
}
