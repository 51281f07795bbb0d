"""The analytics service: the operations plan's KPIs (GMV, orders, conversion, repurchase,
sell-through, returns, stock turnover, members, coupons and points, low-stock and slow-moving
SKUs), projected from the published events into its own store. It never calls another service:
the event contract is all it reads (docs/kpis.md defines every figure)."""
