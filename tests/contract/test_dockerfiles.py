"""Every service has an image definition, generated from the one template."""

from __future__ import annotations

from tools.dockerfiles import dockerfile, render, service_rows


def test_every_service_has_a_dockerfile_matching_the_template() -> None:
    rows = service_rows()
    assert {row.name for row in rows} >= {"catalog", "inventory", "order", "payment"}
    for row in rows:
        assert dockerfile(row).read_text() == render(row), f"run `make dockerfiles` ({row.name})"
        assert f'CMD ["python", "-m", "{row.module}", "serve"]' in render(row)
        assert "USER app" in render(row)
