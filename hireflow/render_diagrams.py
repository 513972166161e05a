"""Render every diagram in ``bpmn/`` to a PNG with bpmn-js, as the Modeler draws it.

``make diagrams`` writes ``docs/diagrams/<process>.png``; the README shows them, so a
reader sees each process before reading code. bpmn-js comes from the pinned Node tools
and runs in headless Debian Chromium.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from playwright.sync_api import sync_playwright

from hireflow.browser import launch
from hireflow.cli import command_line
from hireflow.model_checks import MODELS_DIR, TOOLS_DIR
from hireflow.paths import PROJECT_ROOT

BPMN_JS = TOOLS_DIR / "node_modules" / "bpmn-js" / "dist"
OUTPUT_DIR = PROJECT_ROOT / "docs" / "diagrams"

PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8">
<style>html, body { margin: 0; background: white; } #canvas { width: 2400px; height: 1400px; }</style>
</head><body><div id="canvas"></div></body></html>"""

RENDER = """async ([xml, marks]) => {
  const viewer = new BpmnJS({ container: '#canvas' });
  const { warnings } = await viewer.importXML(xml);
  const canvas = viewer.get('canvas');
  for (const [id, mark] of Object.entries(marks)) canvas.addMarker(id, 'hireflow-' + mark);
  canvas.zoom('fit-viewport', 'auto');
  const box = canvas.viewbox();
  // Crop to the drawing with a margin: the image stays readable at its natural width.
  const inner = box.inner;
  const scale = box.scale;
  return { warnings: warnings.map(w => w.message),
           clip: { x: Math.max(0, (inner.x - box.x) * scale - 20),
                   y: Math.max(0, (inner.y - box.y) * scale - 20),
                   width: inner.width * scale + 40, height: inner.height * scale + 40 } };
}"""

# Coverage pictures: what a run visited in green, what it did not in red.
MARK_STYLE = """
.hireflow-visited .djs-visual > :first-child { stroke: #2e7d32 !important; fill: #e8f5e9 !important; }
.hireflow-unvisited .djs-visual > :first-child { stroke: #c62828 !important; fill: #ffebee !important;
  stroke-width: 3px !important; }
.djs-connection.hireflow-visited .djs-visual > path { stroke: #2e7d32 !important; fill: none !important; }
.djs-connection.hireflow-unvisited .djs-visual > path { stroke: #c62828 !important; fill: none !important;
  stroke-dasharray: 6 4; stroke-width: 3px !important; }
"""


def render(
    diagrams: list[Path],
    output_dir: Path = OUTPUT_DIR,
    *,
    marks: Mapping[Path, Mapping[str, str]] | None = None,
) -> list[Path]:
    """Render ``diagrams`` to PNGs in ``output_dir``; returns the image paths.

    ``marks`` colours elements per diagram: element id -> "visited" or "unvisited".
    """
    if not (BPMN_JS / "bpmn-viewer.production.min.js").exists():
        raise FileNotFoundError("bpmn-js is not installed: run `make modeling-tools`")
    output_dir.mkdir(parents=True, exist_ok=True)
    images = []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": 2400, "height": 1400}, device_scale_factor=1)
        for diagram in diagrams:
            page.set_content(PAGE)
            page.add_style_tag(path=str(BPMN_JS / "assets" / "diagram-js.css"))
            page.add_style_tag(path=str(BPMN_JS / "assets" / "bpmn-js.css"))
            page.add_style_tag(content=MARK_STYLE)
            page.add_script_tag(path=str(BPMN_JS / "bpmn-viewer.production.min.js"))
            diagram_marks = dict((marks or {}).get(diagram, {}))
            result = page.evaluate(RENDER, [diagram.read_text(encoding="utf-8"), diagram_marks])
            if result["warnings"]:
                raise ValueError(f"{diagram.name} imported with warnings: {result['warnings']}")
            image = output_dir / f"{diagram.stem}.png"
            page.screenshot(path=str(image), clip=result["clip"])
            images.append(image)
        browser.close()
    return images


def main(argv: list[str] | None = None) -> int:
    parser = command_line("hireflow.render_diagrams", __doc__)
    parser.add_argument("--output", type=Path, default=OUTPUT_DIR)
    args = parser.parse_args(argv)
    for image in render(sorted(MODELS_DIR.glob("*.bpmn")), args.output):
        print(f"wrote {image.relative_to(PROJECT_ROOT) if image.is_relative_to(PROJECT_ROOT) else image}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
