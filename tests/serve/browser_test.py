"""The chat page of `imp serve` in a real headless browser (Debian chromium + chromium-driver, selenium from
PyPI): upload an image, ask a question, wait for the streamed answer to finish, check the model name and
tokens/s are shown, ask a follow-up (conversation history), and save a screenshot.

    python browser_test.py IMP_BINARY MODEL_DIR IMAGE SCREENSHOT.png [QUESTION]   (IMP_FOLLOW_UP: the second question)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from serve_harness import Server, python_with  # noqa: E402

python_with("selenium")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

imp, model, image, shot = sys.argv[1:5]
question = sys.argv[5] if len(sys.argv) > 5 else "What colour is the shape?"
for exe in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
    if not os.path.exists(exe):
        raise SystemExit(f"{exe} missing: apt-get install chromium chromium-driver (scripts/setup.sh)")

with Server(imp, model, "--default-max-tokens", "24") as srv:
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1000,760"):
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        wait = WebDriverWait(driver, 60)
        driver.get(srv.url + "/")
        model_name = os.path.basename(os.path.normpath(model))
        wait.until(EC.text_to_be_present_in_element((By.ID, "model"), model_name))
        driver.find_element(By.ID, "file").send_keys(os.path.abspath(image))
        wait.until(lambda d: d.find_element(By.ID, "preview").get_attribute("hidden") is None)
        driver.find_element(By.ID, "text").send_keys(question)
        driver.find_element(By.ID, "send").click()
        answer = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#answer-1.done")))
        stats = driver.find_element(By.ID, "stats").text
        user_img = driver.find_elements(By.CSS_SELECTOR, ".msg.user img")
        errors = driver.find_elements(By.CSS_SELECTOR, ".msg.error")
        ok = bool(answer.text.strip()) and "tokens/s" in stats and len(user_img) == 1 and not errors
        print(f"answer: {answer.text!r}; stats: {stats!r}; errors: {[e.text for e in errors]}")
        # A follow-up question sends the conversation so far.
        driver.find_element(By.ID, "text").send_keys(os.environ.get("IMP_FOLLOW_UP", "And its shape?"))
        driver.find_element(By.ID, "send").click()
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#answer-3.done")))
        ok = ok and not driver.find_elements(By.CSS_SELECTOR, ".msg.error")
        os.makedirs(os.path.dirname(os.path.abspath(shot)), exist_ok=True)
        driver.save_screenshot(shot)
        print("screenshot:", shot)
    finally:
        driver.quit()
    code = srv.stop()
sys.exit(0 if ok and code == 0 else 1)
