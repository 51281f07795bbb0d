"""What the launcher tells a person: the status table, the accounts, the demo data, failures.

Nothing here decides anything: `tools.launched` and the tests read each process's `/readyz`,
never these lines.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tools.processes import tail
from tools.seed import SeedResult
from tools.suite.components import Component
from tools.suite.credentials import AdminCredentials, Credentials, MemberCredentials
from tools.suite.errors import SuiteError
from tools.suite.places import relative
from tools.suite.services import FLASH_SALE_PER_MEMBER, HOST, default, service_row
from tools.supervisor import Backoff

TAIL_LINES = 30
# Inventory's default safety stock: fewer units on hand is "low".
LOW_STOCK_UNITS: int = default(service_row("inventory").settings, "default_safety_stock")
STOREFRONT_EXAMPLE = "/api/v1/products"  # printed as a `try: curl ...` hint

console = Console(highlight=False)


def status_table(*columns: str) -> Table:
    table = Table("component", title="commerce suite")
    table.add_column("URL", overflow="fold")  # long URLs wrap rather than lose their end
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def print_ready(
    components: Sequence[Component],
    admin: AdminCredentials,
    member: MemberCredentials,
    seeded: SeedResult | None,
) -> None:
    """Everything a person needs once the suite is up: what runs where, how to log in, what to
    try, and that Ctrl-C stops it."""
    table = status_table("PID", "log", "data")
    for component in components:
        pid = str(component.process.pid) if component.process else component.origin
        log = relative(component.log_path) if component.log_path else "-"
        table.add_row(component.name, component.url, pid, log, component.data)
    console.print(table)
    gateway = service_row("gateway").url()
    api = f"[bold]storefront API:[/] {gateway}/api/v1   [bold]docs:[/] {gateway}/docs"
    console.print(api, soft_wrap=True)
    # The operators' page (analytics, through the gateway): log in with the admin below.
    console.print(f"[bold]dashboard:[/] {gateway}/ops (log in as the admin)", soft_wrap=True)
    print_credentials(admin, member if seeded else None, gateway)
    print_demo_catalog(seeded)
    console.print(f"try: curl {gateway}{STOREFRONT_EXAMPLE}")
    console.print(f"try: {demo_command(gateway)}", soft_wrap=True)
    backoff = Backoff()
    console.print(
        f"supervising: a process that dies is restarted (backoff {backoff.initial:g} s "
        f"doubling to {backoff.cap:g} s); losing the broker ends the run",
        soft_wrap=True,
    )
    console.print("Ctrl-C stops everything.")


def print_credentials(
    admin: AdminCredentials, member: MemberCredentials | None, gateway_url: str
) -> None:
    """The admin account, the demo member if seeded, and a copyable login command (one line
    each, never wrapped)."""
    print_account("admin", admin, "production settings refuse them")
    if member:
        variables = f"{member.email_variable} / {member.password_variable}"
        print_account("demo member", member, f"{variables} override it")
    command = admin.login_command(gateway_url)
    console.print(f"log in: {command}", markup=False, soft_wrap=True)


def print_account(role: str, credentials: Credentials, note: str) -> None:
    if credentials.is_development:
        label = f"[bold yellow]{role} (development default)[/]"
        console.print(f"{label}: {credentials.shown()} ({note})", soft_wrap=True)
    else:
        console.print(f"[bold]{role}:[/] {credentials.shown()}", soft_wrap=True)


def seed_summary(result: SeedResult) -> str:
    if result.already_seeded:
        return f"demo catalog: already seeded ({result.products} products)"
    finished = f", {result.finished} drafts finished" if result.finished else ""
    member = "registered" if result.member_registered else "already registered"
    return (
        f"demo catalog: {result.created} product(s) created{finished} in {result.seconds:.1f} s; "
        f"demo member {member}"
    )


def print_demo_catalog(result: SeedResult | None) -> None:
    """What the seed put in: the categories, the flash-sale SKU and the low-stock ones."""
    if result is None:
        console.print("demo data: not seeded (--no-seed or SUITE_SEED_DEMO=0)")
        return
    catalog = result.catalog
    flash = catalog.sku(catalog.flash_sale_sku)
    low = ", ".join(sku.sku for sku in catalog.low_stock(LOW_STOCK_UNITS) if sku != flash)
    console.print(
        f"[bold]demo catalog:[/] {len(catalog.products)} products in "
        f"{len(catalog.categories())} categories ({', '.join(catalog.categories())}); "
        f"flash-sale SKU [bold]{flash.sku}[/] ({flash.stock} units seeded, at most "
        f"{FLASH_SALE_PER_MEMBER} per member); low stock: {low}",
        soft_wrap=True,
    )


def demo_command(gateway_url: str) -> str:
    """`make demo`, pointed at the gateway when it moved from its default port."""
    if gateway_url == f"http://{HOST}:{service_row('gateway').port}":
        return "make demo"
    return f"GATEWAY_URL={gateway_url} make demo"


def print_failure(error: SuiteError) -> None:
    console.print(f"[bold red]error:[/] {escape(str(error))}", soft_wrap=True)
    for log_path in error.logs:
        console.rule(f"last {TAIL_LINES} lines of {relative(log_path)}")
        for line in tail(log_path, TAIL_LINES):
            console.print(line, markup=False, soft_wrap=True)
        console.rule()
