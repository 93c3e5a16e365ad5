// A two-step tool loop over the Responses API with the Vercel AI SDK's OpenAI provider (store on, its
// default): the second step sends the first step's reasoning back as an item_reference.
import { generateText, stepCountIs, tool } from "ai";
import { createOpenAI } from "@ai-sdk/openai";
import { z } from "zod";

const openai = createOpenAI({ baseURL: process.env.GLM_BASE_URL, apiKey: "unused" });
const result = await generateText({
  model: openai.responses(process.env.GLM_MODEL),
  tools: {
    get_weather: tool({
      description: "Weather for a city.",
      inputSchema: z.object({ city: z.string() }),
      execute: async ({ city }) => `sunny in ${city}`,
    }),
  },
  stopWhen: stepCountIs(3),
  prompt: "Weather in Oslo?",
});
console.log(JSON.stringify({ text: result.text, steps: result.steps.length, finish: result.finishReason }));
