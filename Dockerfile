# steerscope's teaching server: the web UI on the simulator, each visitor in a private
# sandbox (docs/teaching.md). Build and run:
#   docker build -t steerscope-teach .
#   docker run --rm -p 8501:8501 --cpus 4 --memory 8g -v steerscope-data:/data steerscope-teach
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    STEERSCOPE_DATA=/data \
    STEERSCOPE_RECORDS=/data/records

RUN useradd --create-home --uid 1000 steerscope \
    && mkdir /data && chown steerscope /data

WORKDIR /opt/steerscope
COPY pyproject.toml README.md ./
COPY src ./src

# torch first, pinned, from PyTorch's CPU index: from PyPI, torch on Linux is a
# multi-GB CUDA build. `pip install .` then finds torch==2.13.0 (+cpu) satisfied.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
    && pip install . \
    && steerscope datasets list

USER steerscope
VOLUME /data
EXPOSE 8501
# 0.0.0.0 inside the container only; publish the port behind the class's HTTPS proxy.
CMD ["steerscope", "teach", "--address", "0.0.0.0", "--port", "8501"]
