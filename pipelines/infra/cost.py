"""Monthly cost of each environment at AWS list prices, from the sizing in its tfvars.

The README's cost table is rendered by :func:`render_cost_table`, and a test checks the README
still holds exactly that table, so the stated costs follow the tfvars. Prices are us-east-1
on-demand list prices in USD (730 hours a month). Spot has no list price: spot nodes are priced at
:data:`SPOT_SHARE` of on-demand, an assumption stated next to the table, with the on-demand
ceiling shown too. Usage-driven lines (logs, metrics, S3, NAT traffic) use :data:`USAGE`.
"""

from __future__ import annotations

from typing import Any

from pipelines.infra.hcl import TfTree, blocks, environment_settings

HOURS = 730
EKS_CLUSTER_HOUR = 0.10
NAT_GATEWAY_HOUR = 0.045
NAT_PER_GB = 0.045
PUBLIC_IPV4_HOUR = 0.005
EBS_GP3_GB_MONTH = 0.08
RDS_GP3_GB_MONTH = 0.115
KMS_KEY_MONTH = 1.00
SECRET_MONTH = 0.40
ALARM_MONTH = 0.10
LOGS_INGEST_GB = 0.50
AMP_PER_10M_SAMPLES = 0.90
S3_STANDARD_GB_MONTH = 0.023
SPOT_SHARE = 0.35
EC2_HOUR = {
    "t3.medium": 0.0416,
    "t3.large": 0.0832,
    "m6i.large": 0.096,
    "m6i.xlarge": 0.192,
}
# The istio ingress gateway's internal Network Load Balancer: hours plus one NLCU on average.
NLB_HOUR = 0.0225
NLCU_HOUR = 0.006
# Persistent volumes in the cluster (gp3): each Prometheus replica's, and the Pushgateway's.
PUSHGATEWAY_VOLUME_GB = 2
# Prometheus' scrape interval (monitoring/prometheus/prometheus.yml; a test keeps them equal):
# every remote-written series sends one sample per interval to the managed workspace.
SCRAPE_SECONDS = 15
RDS_HOUR = {"db.t4g.micro": 0.016, "db.t4g.small": 0.032, "db.t4g.medium": 0.065}
# One customer-managed key each: flow logs, data, EKS, monitoring, secrets.
KMS_KEYS = 5
ALARMS = 3
# Usage assumptions: log GB ingested, series remote-written to the managed workspace (only the
# project's own metrics pass the write filter of modules/monitoring), S3 GB, NAT GB, and hours
# the runners' node group runs (scaled from zero for jobs: nightly data, weekly training, hourly
# feature health, deploys; each start keeps a node about 10 minutes more).
USAGE: dict[str, dict[str, float]] = {
    "dev": {"log_gb": 5, "series": 1000, "s3_gb": 50, "nat_gb": 20, "runner_hours": 0},
    "staging": {"log_gb": 10, "series": 2000, "s3_gb": 100, "nat_gb": 40, "runner_hours": 0},
    "prod": {"log_gb": 30, "series": 5000, "s3_gb": 200, "nat_gb": 100, "runner_hours": 250},
}


def _module_default(tree: TfTree, module: str, variable: str) -> Any:
    for tf in tree.in_dir(f"modules/{module}"):
        for name, body in blocks(tf.doc, "variable"):
            if name == variable:
                return body.get("default")
    raise KeyError(f"modules/{module}: no variable {variable}")


def _settings(tree: TfTree, env: str) -> dict[str, Any]:
    loaded = environment_settings(tree, env)
    if loaded is None or not loaded[1]:
        raise KeyError(f"environments/{env}/terraform.tfvars: no settings object")
    return loaded[1]


def monthly_cost(tree: TfTree, env: str) -> dict[str, float]:
    """Cost lines in USD per month for one environment.

    Args:
        tree: The loaded terraform/ tree (tfvars and module defaults are read from it).
        env: dev, staging or prod.

    Returns:
        Line name to USD, plus ``total`` (spot at the assumed share) and ``total_on_demand``.
    """
    values = _settings(tree, env)
    usage = USAGE[env]
    nats = 1 if values["single_nat_gateway"] else len(values["availability_zones"])
    nodes = nodes_on_demand = 0.0
    for group in values["node_groups"].values():
        # A group scaled from zero is paid for the hours its jobs run.
        hours = group["desired_size"] * HOURS if group["desired_size"] else usage["runner_hours"]
        hourly = EC2_HOUR[group["instance_types"][0]] * hours
        share = SPOT_SHARE if group["capacity_type"] == "SPOT" else 1.0
        disks = hours / HOURS * group["disk_size_gb"] * EBS_GP3_GB_MONTH
        nodes += hourly * share + disks
        nodes_on_demand += hourly + disks
    volume_gb = (
        _module_default(tree, "monitoring", "prometheus_volume_gb") * values["controller_replicas"]
        + PUSHGATEWAY_VOLUME_GB
    )
    nodes += volume_gb * EBS_GP3_GB_MONTH
    nodes_on_demand += volume_gb * EBS_GP3_GB_MONTH
    samples_10m = usage["series"] * HOURS * 3600 / SCRAPE_SECONDS / 10_000_000
    secrets = (
        len(values["exchanges"]) + 1 + 2 + (1 if values["github_workflow_environments"] else 0)
    )
    az_factor = 2 if values["db_multi_az"] else 1
    storage_gb = _module_default(tree, "storage", "db_allocated_storage_gb")
    lines = {
        "eks_control_plane": EKS_CLUSTER_HOUR * HOURS,
        "nat_gateways": nats * (NAT_GATEWAY_HOUR + PUBLIC_IPV4_HOUR) * HOURS
        + usage["nat_gb"] * NAT_PER_GB,
        "nodes": nodes,
        "database": az_factor * (RDS_HOUR[values["db_instance_class"]] * HOURS)
        + az_factor * storage_gb * RDS_GP3_GB_MONTH,
        "load_balancer": (NLB_HOUR + NLCU_HOUR) * HOURS,
        "kms_secrets_alarms": KMS_KEYS * KMS_KEY_MONTH
        + secrets * SECRET_MONTH
        + ALARMS * ALARM_MONTH,
        "logs_metrics": usage["log_gb"] * LOGS_INGEST_GB + samples_10m * AMP_PER_10M_SAMPLES,
        "s3": usage["s3_gb"] * S3_STANDARD_GB_MONTH,
    }
    lines = {name: round(value, 2) for name, value in lines.items()}
    total = round(sum(lines.values()), 2)
    lines["total"] = total
    lines["total_on_demand"] = round(total - round(nodes, 2) + round(nodes_on_demand, 2), 2)
    return lines


def _sizing(values: dict[str, Any], usage: dict[str, float]) -> str:
    groups = ", ".join(
        f"{g['desired_size']}x {g['instance_types'][0]} {g['capacity_type'].lower()}"
        if g["desired_size"]
        else f"runners {g['instance_types'][0]} {g['capacity_type'].lower()} from 0"
        f" (~{usage['runner_hours']:.0f} h)"
        for g in values["node_groups"].values()
    ).replace("on_demand", "on-demand")
    nat = "1 NAT" if values["single_nat_gateway"] else f"{len(values['availability_zones'])} NAT"
    db = f"{values['db_instance_class']} {'Multi-AZ' if values['db_multi_az'] else 'single-AZ'}"
    return f"{len(values['availability_zones'])} AZ, {nat}; {groups}; {db}"


def render_cost_table(tree: TfTree) -> str:
    """The markdown cost table of dev, staging and prod (what the README must contain)."""
    header = (
        "| env | sizing | EKS | NAT | nodes+volumes | RDS | NLB | KMS+secrets+alarms | logs+AMP "
        "| S3 | total/month | total without spot |\n"
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
    )
    rows = []
    for env in ("dev", "staging", "prod"):
        c = monthly_cost(tree, env)
        rows.append(
            f"| {env} | {_sizing(_settings(tree, env), USAGE[env])} "
            f"| ${c['eks_control_plane']:.0f} "
            f"| ${c['nat_gateways']:.0f} | ${c['nodes']:.0f} | ${c['database']:.0f} "
            f"| ${c['load_balancer']:.0f} "
            f"| ${c['kms_secrets_alarms']:.0f} | ${c['logs_metrics']:.0f} | ${c['s3']:.0f} "
            f"| **${c['total']:.0f}** | ${c['total_on_demand']:.0f} |"
        )
    return header + "\n".join(rows) + "\n"
