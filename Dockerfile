# One image for web, ingest, worker and beat; docker-compose.yml picks the command.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY . .
RUN pip install .

# Dummy values: settings need a database URL and a key to load, and collectstatic uses
# neither. Without them settings would start the embedded PostgreSQL or bake a key in.
RUN DATABASE_URL=postgres://collectstatic@localhost/none SECRET_KEY=collectstatic-only \
    python manage.py collectstatic --noinput

RUN useradd --system --home-dir /app vitals && chown -R vitals /app/var
USER vitals

EXPOSE 8000 8001
CMD ["gunicorn", "vitals.wsgi:application", "-b", "0.0.0.0:8000", "-w", "2"]
