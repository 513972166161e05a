// Lints bpmn/ the way Camunda Modeler does and prints one JSON report on stdout.
//
// Usage: node build/check-models.cjs <models folder> <engine version, e.g. 8.9.26>
// Bundled by esbuild first (see package.json "build"): @camunda/linting ships
// untranspiled ESM that Node cannot load directly.
import fs from 'node:fs';
import path from 'node:path';

import { BpmnModdle } from 'bpmn-moddle';
import { Linter as BpmnLinter } from 'bpmnlint';
import NodeResolver from 'bpmnlint/lib/resolver/node-resolver';
import { createRequire } from 'node:module';
import { Linter as ModelerLinter } from '@camunda/linting';
import { FormLinter } from '@camunda/form-linting';
import { DmnModdle } from 'dmn-moddle';
import { validateZeebe as validateTemplate } from '@bpmn-io/element-templates-validator';
import zeebeModdle from 'zeebe-bpmn-moddle/resources/zeebe.json';
import modelerModdle from 'modeler-moddle/resources/modeler.json';

const [, , modelsDir, engineVersion] = process.argv;
const minor = engineVersion.split('.').slice(0, 2).join('.');
const expectedPlatformVersion = `${minor}.0`;
const compatConfigName = `camunda-cloud-${minor.replace('.', '-')}`;

const moddle = () => new BpmnModdle({ zeebe: zeebeModdle, modeler: modelerModdle });

function filesIn(dir, ext) {
  return fs.readdirSync(dir).filter((f) => f.endsWith(ext)).sort().map((f) => path.join(dir, f));
}

// ---- bpmnlint with `bpmnlint:recommended` + `plugin:camunda-compat/<engine>`, resolved from the
// tools' own node_modules (bpmnlint and the plugin stay outside the bundle: they are CommonJS).
function bpmnlintResolver() {
  const toolsRequire = createRequire(path.join(path.dirname(process.argv[1]), '..', 'package.json'));
  return new NodeResolver({ require: toolsRequire });
}

const bpmnlintConfig = {
  extends: ['bpmnlint:recommended', `plugin:camunda-compat/${compatConfigName}`],
  };

function flattenReports(results) {
  const problems = [];
  for (const [rule, reports] of Object.entries(results)) {
    for (const r of reports) {
      problems.push({ rule, id: r.id, message: r.message, category: r.category || 'error' });
    }
  }
  return problems;
}

// ---- checks of our own: what no linter checks
function executionPlatformProblems(definitions) {
  const problems = [];
  const platform = definitions.get('modeler:executionPlatform');
  const version = definitions.get('modeler:executionPlatformVersion');
  if (platform !== 'Camunda Cloud') {
    problems.push({ rule: 'hireflow/execution-platform', id: definitions.id, category: 'error',
      message: `modeler:executionPlatform must be "Camunda Cloud" (found ${JSON.stringify(platform)}); Modeler's linter skips the file otherwise` });
  }
  if (version !== expectedPlatformVersion) {
    problems.push({ rule: 'hireflow/execution-platform', id: definitions.id, category: 'error',
      message: `modeler:executionPlatformVersion must be "${expectedPlatformVersion}" for engine ${engineVersion} (found ${JSON.stringify(version)})` });
  }
  return problems;
}

function layoutProblems(definitions) {
  // Every flow element and association needs a shape or an edge, or Modeler shows it nowhere.
  const drawn = new Set();
  for (const diagram of definitions.diagrams || []) {
    for (const el of diagram.plane.planeElement || []) {
      if (el.bpmnElement) drawn.add(el.bpmnElement.id);
    }
  }
  const problems = [];
  const visit = (container) => {
    for (const el of [...(container.flowElements || []), ...(container.artifacts || [])]) {
      if (!drawn.has(el.id)) {
        problems.push({ rule: 'hireflow/full-layout', id: el.id, category: 'error',
          message: `${el.$type} "${el.name || el.id}" has no diagram layout` });
      }
      if (el.flowElements) visit(el);
    }
  };
  for (const root of definitions.rootElements) {
    if (root.$type === 'bpmn:Process') visit(root);
  }
  return problems;
}

function eventDefinitionIdProblems(definitions) {
  // Zeebe names what it builds from an event definition (e.g. a compensation) by the
  // definition's id, and rejects the whole deployment when it is missing. Modeler always
  // writes one; a hand edit or a generator may not, and no linter rule catches it.
  const problems = [];
  const visit = (container) => {
    for (const el of container.flowElements || []) {
      for (const definition of el.eventDefinitions || []) {
        if (!definition.id) {
          problems.push({ rule: 'hireflow/event-definition-id', id: el.id, category: 'error',
            message: `${definition.$type} of "${el.name || el.id}" has no id (Modeler always writes one; Zeebe rejects a deployment whose compensation definition lacks it)` });
        }
      }
      if (el.flowElements) visit(el);
    }
  };
  for (const root of definitions.rootElements) {
    if (root.$type === 'bpmn:Process') visit(root);
  }
  return problems;
}

// Which elements link what by an extension element, e.g. zeebe:FormDefinition formId.
function linksIn(definitions, extensionType, property) {
  const links = [];
  const visit = (container) => {
    for (const el of container.flowElements || []) {
      for (const ext of (el.extensionElements && el.extensionElements.values) || []) {
        if (ext.$type === extensionType && ext[property]) links.push({ element: el.id, [property]: ext[property] });
      }
      if (el.flowElements) visit(el);
    }
  };
  for (const root of definitions.rootElements) {
    if (root.$type === 'bpmn:Process') visit(root);
  }
  return links;
}

async function lintDiagram(file) {
  const xml = fs.readFileSync(file, 'utf8');
  const { rootElement: definitions, warnings } = await moddle().fromXML(xml, 'bpmn:Definitions');
  const problems = warnings.map((w) => ({ rule: 'import', id: w.element && w.element.id, category: 'error',
    message: w.message }));
  problems.push(...executionPlatformProblems(definitions));
  problems.push(...layoutProblems(definitions));
  problems.push(...eventDefinitionIdProblems(definitions));
  const bpmnlint = new BpmnLinter({ config: bpmnlintConfig, resolver: bpmnlintResolver() });
  problems.push(...flattenReports(await bpmnlint.lint(definitions)).map((p) => ({ ...p, tool: 'bpmnlint' })));
  const modelerReports = await new ModelerLinter({ modeler: 'desktop', type: 'cloud' }).lint(xml);
  problems.push(...modelerReports.map((r) => ({ tool: '@camunda/linting', rule: r.rule, id: r.id,
    message: r.message, category: r.category })));
  return { file, problems, formIds: linksIn(definitions, 'zeebe:FormDefinition', 'formId'),
    decisionIds: linksIn(definitions, 'zeebe:CalledDecision', 'decisionId'),
    processIds: definitions.rootElements.filter((r) => r.$type === 'bpmn:Process').map((r) => r.id) };
}

// @camunda/form-linting's version table ends at 8.8: a form marked 8.9 would get no checks at all,
// so forms are also linted as if marked with the newest version it knows.
const NEWEST_FORM_LINTING_VERSION = '8.8.0';

let formViewer;

async function importForm(schema) {
  // A structural import as Tasklist does it: unknown types, duplicate keys and ids fail here.
  if (!formViewer) {
    const { JSDOM } = require('jsdom');
    const dom = new JSDOM('<!DOCTYPE html><body></body>', { pretendToBeVisual: true });
    for (const name of ['window', 'document', 'navigator', 'Node', 'HTMLElement', 'Element', 'Event',
      'KeyboardEvent', 'MouseEvent', 'CustomEvent', 'getComputedStyle', 'requestAnimationFrame',
      'cancelAnimationFrame', 'MutationObserver', 'DOMParser', 'SVGElement']) {
      if (!(name in globalThis) || name === 'window' || name === 'document') {
        Object.defineProperty(globalThis, name, { value: dom.window[name], configurable: true, writable: true });
      }
    }
    formViewer = await import('@bpmn-io/form-js-viewer');
  }
  const container = document.createElement('div');
  document.body.appendChild(container);
  const form = new formViewer.Form({ container });
  try {
    const { warnings } = await form.importSchema(schema, {});
    return (warnings || []).map((w) => ({ tool: 'form-js-viewer', rule: 'import', message: String(w.message || w),
      category: 'error' }));
  } catch (err) {
    return [{ tool: 'form-js-viewer', rule: 'import', message: String(err.message || err), category: 'error' }];
  } finally {
    form.destroy();
    container.remove();
  }
}

async function lintForm(file) {
  const text = fs.readFileSync(file, 'utf8');
  const problems = [];
  let schema;
  try {
    schema = JSON.parse(text);
  } catch (err) {
    return { file, problems: [{ rule: 'json', message: err.message, category: 'error' }] };
  }
  if (schema.executionPlatform !== 'Camunda Cloud' || schema.executionPlatformVersion !== expectedPlatformVersion) {
    problems.push({ rule: 'hireflow/execution-platform', id: schema.id, category: 'error',
      message: `a form must say executionPlatform "Camunda Cloud", executionPlatformVersion "${expectedPlatformVersion}"` });
  }
  for (const version of new Set([schema.executionPlatformVersion, NEWEST_FORM_LINTING_VERSION])) {
    const reports = await new FormLinter().lint({ ...schema, executionPlatformVersion: version });
    problems.push(...reports.map((r) => ({ tool: `@camunda/form-linting (as ${version})`, rule: r.rule || 'form',
      id: r.id, message: r.message, category: r.category || 'error' })));
  }
  problems.push(...await importForm(schema));
  return { file, id: schema.id, problems };
}

// ---- DMN: parse as Modeler does, and check the execution platform like a diagram's
async function checkDecisions(file) {
  const xml = fs.readFileSync(file, 'utf8');
  const { rootElement: definitions, warnings } = await new DmnModdle().fromXML(xml, 'dmn:Definitions');
  const problems = warnings.map((w) => ({ rule: 'import', id: w.element && w.element.id, category: 'error',
    message: w.message }));
  problems.push(...executionPlatformProblems(definitions));
  const decisionIds = (definitions.drgElement || []).filter((e) => e.$type === 'dmn:Decision').map((e) => e.id);
  const shapes = new Set(((definitions.dmnDI && definitions.dmnDI.diagrams) || [])
    .flatMap((d) => d.diagramElements || []).map((e) => e.dmnElementRef && e.dmnElementRef.id));
  for (const id of decisionIds.filter((d) => !shapes.has(d))) {
    problems.push({ rule: 'hireflow/full-layout', id, category: 'error', message: `decision ${id} has no shape in the DRD` });
  }
  return { file, decisionIds, problems };
}

function checkTemplate(file) {
  const text = fs.readFileSync(file, 'utf8');
  const { valid, errors } = validateTemplate(text);
  const template = JSON.parse(text);
  return { file, id: template.id, valid, problems: (errors || []).map((e) => ({ rule: 'element-template-schema',
    message: `${e.dataPath || '/'} ${e.message}`, category: 'error' })) };
}

async function main() {
  const report = {
    engineVersion, expectedPlatformVersion, compatConfigName,
    diagrams: [], forms: [], templates: [], decisions: [],
  };
  for (const file of filesIn(modelsDir, '.dmn')) report.decisions.push(await checkDecisions(file));
  for (const file of filesIn(modelsDir, '.bpmn')) report.diagrams.push(await lintDiagram(file));
  for (const file of filesIn(modelsDir, '.form')) report.forms.push(await lintForm(file));
  const templatesDir = path.join(modelsDir, '.camunda', 'element-templates');
  if (fs.existsSync(templatesDir)) {
    for (const file of filesIn(templatesDir, '.json')) report.templates.push(checkTemplate(file));
  }
  process.stdout.write(JSON.stringify(report, null, 2));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
