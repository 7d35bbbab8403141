# Switchyard gateway and consumer image (production topology: ClickHouse server over HTTP).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway gateway
COPY consumers consumers
COPY schemas schemas
COPY infra infra
RUN pip install --no-cache-dir .
ENV SWITCHYARD_HOST=0.0.0.0 SWITCHYARD_PORT=8080
EXPOSE 8080
CMD ["python", "-m", "gateway", "serve"]
